import { FlotillaError, messageOf } from '@flotilla/errors';
import type { OwnerReply, RequestDefinition } from '@flotilla/events';
import type { Static, TObject } from '@sinclair/typebox';
import type { Bus, BusLogger } from './bus.ts';

export interface OwnerRequests<Q extends TObject> {
  /**
   * Runs the request here when this instance owns its source, else on the owner. Says which
   * instance took it; null when nobody owns it right now (a failover: the next owner's first check
   * covers it, and polling is the safety net), with the reason logged.
   */
  dispatch(request: Static<Q>): Promise<string | null>;
  /** Stops serving; resolves once the server no longer routes requests here. */
  stop(): Promise<void>;
}

/**
 * Work that only the owner of a source (a lease holder) may do, reachable from every instance:
 * each instance serves `def` and answers only for what it owns, so a request reaches the owner.
 */
export async function ownerRequests<Q extends TObject>(
  bus: Bus,
  def: RequestDefinition<string, Q, typeof OwnerReply>,
  o: {
    instance: string;
    timeoutMs: number;
    logger: BusLogger;
    /** Starts the work when this instance owns the source; false when it does not. */
    runIfOwned(request: Static<Q>): boolean;
  },
): Promise<OwnerRequests<Q>> {
  const served = await bus.serve(def, (request) =>
    o.runIfOwned(request) ? { instance: o.instance } : undefined,
  );
  return {
    async dispatch(request) {
      if (o.runIfOwned(request)) return o.instance;
      try {
        return (await bus.request(def, request, { timeoutMs: o.timeoutMs })).instance;
      } catch (err) {
        o.logger.warn(
          {
            request: def.name,
            scope: def.scope(request),
            code: err instanceof FlotillaError ? err.code : undefined,
            err: messageOf(err),
          },
          'no owner took the forwarded request',
        );
        return null;
      }
    },
    stop: () => served.stop(),
  };
}
