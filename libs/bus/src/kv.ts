import { FlotillaError } from '@flotilla/errors';
import type { KV } from '@nats-io/kv';

/**
 * KV keys allow only `[-/_=.a-zA-Z0-9]`; repo URLs and image names hold more. `=XX` escapes
 * keep keys reversible and readable.
 */
export function encodeKey(raw: string): string {
  let out = '';
  for (const ch of raw) {
    if (/^[A-Za-z0-9_\-/.]$/.test(ch)) out += ch;
    else
      for (const b of new TextEncoder().encode(ch))
        out += `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // Leading/trailing dots and `..` are invalid in subjects underneath.
  return out.replace(/^\./, '=2E').replace(/\.$/, '=2E').replaceAll('..', '.=2E');
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** JSON values in a KV bucket, with compare-and-set by revision. */
export class JsonKv<T> {
  constructor(readonly kv: KV) {}

  async get(key: string): Promise<Versioned<T> | undefined> {
    const entry = await this.kv.get(encodeKey(key));
    if (entry?.operation !== 'PUT' || entry.length === 0) return undefined;
    return { value: entry.json<T>(), revision: entry.revision };
  }

  async put(key: string, value: T): Promise<number> {
    return await this.kv.put(encodeKey(key), JSON.stringify(value));
  }

  /** Fails with `bus.kv-conflict` when the key exists. */
  async create(key: string, value: T): Promise<number> {
    try {
      return await this.kv.create(encodeKey(key), JSON.stringify(value));
    } catch (err) {
      throw conflict(key, err);
    }
  }

  /** Fails with `bus.kv-conflict` when someone else wrote since `revision`. */
  async update(key: string, value: T, revision: number): Promise<number> {
    try {
      return await this.kv.update(encodeKey(key), JSON.stringify(value), revision);
    } catch (err) {
      throw conflict(key, err);
    }
  }

  async delete(key: string, revision?: number): Promise<void> {
    await this.kv.delete(encodeKey(key), revision === undefined ? undefined : { previousSeq: revision });
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(decodeKey(k));
    return out;
  }
}

export function decodeKey(key: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '=' && /^[0-9A-F]{2}$/.test(key.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(key.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...new TextEncoder().encode(key[i]));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function conflict(key: string, err: unknown): FlotillaError {
  return new FlotillaError('bus.kv-conflict', `KV key "${key}" changed concurrently`, {
    disposition: 'retry',
    cause: err,
  });
}
