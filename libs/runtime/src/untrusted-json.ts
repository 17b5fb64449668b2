import sjson from 'secure-json-parse';

/** Why a body was not taken: not JSON at all, or JSON carrying a key that reaches for a prototype. */
export class UntrustedJsonError extends Error {
  constructor(
    readonly reason: 'syntax' | 'prototype',
    message: string,
  ) {
    super(message);
    this.name = 'UntrustedJsonError';
  }
}

const FORBIDDEN = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * JSON.parse for bodies strangers send (API requests, webhooks): a `__proto__` key or a
 * `constructor.prototype` pair is refused rather than kept as an own property that a later merge
 * or `Object.assign` would turn into prototype pollution. No forge or registry sends either.
 * Fastify's own JSON parser does the same; Flotilla's parsers keep the raw bytes, so they ask here.
 * Throws only UntrustedJsonError, whose message completes "body …" for the caller's refusal.
 */
export function parseUntrustedJson(text: string): unknown {
  try {
    return sjson.parse(text, undefined, FORBIDDEN);
  } catch (err) {
    // secure-json-parse parses with JSON.parse first: only its own check says "forbidden".
    if (err instanceof SyntaxError && /forbidden prototype property/.test(err.message))
      throw new UntrustedJsonError('prototype', 'has a forbidden "__proto__" or "constructor.prototype" key');
    throw new UntrustedJsonError('syntax', 'is not valid JSON');
  }
}
