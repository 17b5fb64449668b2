import { type TSchema, Type } from '@sinclair/typebox';

/** `T` or `null`: a field that is always sent, null when there is nothing to say. */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Every refusal: a stable machine-readable code and a sentence for people. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable code, e.g. `role-missing`, `bad-request`, `standby`' }),
    message: Type.String(),
  },
  { title: 'ErrorBody' },
);

export const Name = Type.String({ minLength: 1, maxLength: 512 });

/** An RFC 3339 time in a query string (checked by the handler, which names the parameter). */
export const TimeQuery = Type.String({ description: 'RFC 3339 time' });

/**
 * The `Idempotency-Key` request header of a decision (approve, reject, promote, lock, unlock,
 * rollback). A retry with the same key, by the same person, for the same operation, is answered
 * with the recorded decision instead of deciding again, for the key's lifetime (24 h by default,
 * the planner's `idempotency.ttlMs`); later it is a new request.
 */
export const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[\\x21-\\x7e]+$',
      description:
        'One key per decision a person or script makes, sent again unchanged on every retry of it (a timeout, a 503): the retry gets the recorded answer, not a second decision. 1 to 200 printable ASCII characters; kept 24 h (configurable), then a new request.',
    }),
  ),
});

/**
 * How a client retries a decision the planner answered 503 (not the leader for a moment, or a
 * NATS/KV/git timeout): sent again with the same Idempotency-Key, so a retry never decides twice.
 */
export const DECISION_RETRY = { attempts: 3, firstDelayMs: 500, maxDelayMs: 5000 } as const;

/** The wait before attempt `attempt + 1` of a decision (`attempt` counts from 1). */
export const decisionRetryDelayMs = (attempt: number): number =>
  Math.min(DECISION_RETRY.firstDelayMs * 2 ** (attempt - 1), DECISION_RETRY.maxDelayMs);
