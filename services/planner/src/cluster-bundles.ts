import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type BlobStore, type Bus, clusterBundleBucket } from '@flotilla/bus';
import { ConfigError } from '@flotilla/runtime';
import { isSealed, sealBundle, sealingPublicKey } from '@flotilla/trust';

/** 32 bytes in base64: 43 characters and one '=' of padding. */
const RAW_KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * `dev=<base64 X25519 public key>,prod=/etc/flotilla/recipients/prod.pub`: each cluster's
 * sealing key, inline or as a file (base64 or PEM). A malformed entry stops the start.
 */
export function parseRecipients(text: string): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const problems: string[] = [];
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const cluster = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    if (eq <= 0 || !value) {
      problems.push(`bundles.recipients: "${entry}" is not cluster=<key or file>`);
      continue;
    }
    try {
      // Base64 may start with '/', so a value that is a whole raw key is one, whatever its first
      // character; anything else starting with '/' is a file.
      const inline = RAW_KEY_BASE64.test(value) || !value.startsWith('/');
      out.set(cluster, sealingPublicKey(inline ? value : readFileSync(value, 'utf8')));
    } catch (err) {
      problems.push(`bundles.recipients: ${cluster}: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/**
 * Where the planner keeps each cluster's bundles: the cluster's own object store
 * (`<bundles.bucket>-<cluster>`, the only one that cluster's applier may read), sealed to the
 * cluster's key when one is configured. The planner holds public keys only: it can seal, never open.
 */
export class ClusterBundles {
  private readonly stores = new Map<string, Promise<BlobStore>>();

  constructor(
    private readonly bus: Bus,
    readonly base: string,
    private readonly recipients: ReadonlyMap<string, KeyObject>,
  ) {}

  bucketOf(cluster: string): string {
    return clusterBundleBucket(this.base, cluster);
  }

  sealedFor(cluster: string): boolean {
    return this.recipients.has(cluster);
  }

  private store(cluster: string): Promise<BlobStore> {
    const bucket = this.bucketOf(cluster);
    let s = this.stores.get(bucket);
    if (!s) {
      s = this.bus.blobs(bucket);
      // A failed open (NATS down) is not remembered: the next render tries again.
      s.catch(() => this.stores.delete(bucket));
      this.stores.set(bucket, s);
    }
    return s;
  }

  /** Stores a cluster's encoded bundle (sealed if it has a key); the digest is of what is stored. */
  async put(
    cluster: string,
    plaintext: Uint8Array,
  ): Promise<{ digest: string; size: number; bucket: string }> {
    const key = this.recipients.get(cluster);
    const bytes = key ? sealBundle(plaintext, key, cluster) : plaintext;
    const digest = await (await this.store(cluster)).put(bytes);
    return { digest, size: bytes.byteLength, bucket: this.bucketOf(cluster) };
  }

  /** A stored bundle's plaintext, or null when it is sealed (only the cluster can open it). */
  async read(cluster: string, digest: string): Promise<Uint8Array | null> {
    const bytes = await (await this.store(cluster)).get(digest);
    return isSealed(bytes) ? null : bytes;
  }
}
