import { FlotillaError } from '@flotilla/errors';

/** Why an API operation was refused; the API maps each to one HTTP status (api.ts). */
export type OperationFailure =
  | 'bad-request'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  /** Well-formed but not acceptable, e.g. a rollback target the stage never ran (422). */
  | 'unprocessable'
  | 'unavailable';

/**
 * A refused operation: `reason` is the stable short code clients see (`not-awaiting`, `locked`,
 * ...), `failure` its class. Operations throw these; nothing below the API knows about HTTP.
 */
export class OperationError extends FlotillaError {
  constructor(
    readonly failure: OperationFailure,
    readonly reason: string,
    message: string,
  ) {
    super(`planner.${reason}`, message, {
      disposition: failure === 'unavailable' ? 'retry' : 'stall',
      details: { failure, reason },
    });
    this.name = 'OperationError';
  }
}

export const isOperationError = (e: unknown): e is OperationError => e instanceof OperationError;

export const refused = (failure: OperationFailure, reason: string, message: string) =>
  new OperationError(failure, reason, message);
