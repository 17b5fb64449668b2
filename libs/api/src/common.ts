import { Type } from '@sinclair/typebox';

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
