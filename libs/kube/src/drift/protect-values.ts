import { createHmac } from 'node:crypto';
import { canonicalJson } from '@flotilla/manifests';
import type { DriftEntry } from './types.ts';

/** A drift entry as it may leave the cluster: values, or for sensitive fields keyed hashes. */
export type ReportedDrift =
  | { path: string; expected?: unknown; actual?: unknown; manager?: string }
  | { path: string; sensitive: true; expectedHash?: string; actualHash?: string; manager?: string };

export interface ProtectOptions {
  /**
   * HMAC key that stays in the cluster. Keyed, not salted-and-published: a plain sha256 of a
   * short password is reversed by guessing; without the key, a hash says only "changed" and
   * "same as before".
   */
  key: Uint8Array;
  /** Which paths hold secrets (the event contract's rule, plus anything configured). */
  sensitive(path: string): boolean;
}

/** `hmac-sha256:<hex>` of the value's canonical JSON: equal values hash alike, whatever the key order. */
export function valueHash(key: Uint8Array, value: unknown): string {
  return `hmac-sha256:${createHmac('sha256', key).update(canonicalJson(value)).digest('hex')}`;
}

/**
 * Drift entries ready for an event: sensitive fields keep their path and owner, and their values
 * become keyed hashes (absent values stay absent, so "removed" still reads as removed).
 */
export function protectDrift(entries: readonly DriftEntry[], o: ProtectOptions): ReportedDrift[] {
  return entries.map((e) => {
    const manager = e.manager ? { manager: e.manager } : {};
    if (!o.sensitive(e.path)) {
      return {
        path: e.path,
        ...(e.expected === undefined ? {} : { expected: e.expected }),
        ...(e.actual === undefined ? {} : { actual: e.actual }),
        ...manager,
      };
    }
    return {
      path: e.path,
      sensitive: true,
      ...(e.expected === undefined ? {} : { expectedHash: valueHash(o.key, e.expected) }),
      ...(e.actual === undefined ? {} : { actualHash: valueHash(o.key, e.actual) }),
      ...manager,
    };
  });
}
