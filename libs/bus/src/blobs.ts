import { createHash } from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';
import { withSpan } from '@flotilla/telemetry';
import type { ObjectStore } from '@nats-io/obj';

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Content-addressed blobs in the NATS Object Store: the name is the sha256 of the bytes. */
export class BlobStore {
  constructor(readonly store: ObjectStore) {}

  /** Stores bytes under their digest; storing the same bytes again is a no-op. */
  put(bytes: Uint8Array): Promise<string> {
    const digest = sha256Digest(bytes);
    return withSpan(
      'object-store put',
      {
        kind: 'client',
        attributes: { 'flotilla.blob.digest': digest, 'flotilla.blob.bytes': bytes.byteLength },
      },
      async (span) => {
        const info = await this.store.info(digest);
        if (info && !info.deleted && info.size === bytes.byteLength) {
          span?.setAttribute('flotilla.blob.existed', true);
          return digest;
        }
        await this.store.putBlob({ name: digest }, bytes);
        return digest;
      },
    );
  }

  /** Reads and verifies; a missing blob or one whose bytes do not hash to `digest` is a stalled error. */
  get(digest: string): Promise<Uint8Array> {
    return withSpan(
      'object-store get',
      { kind: 'client', attributes: { 'flotilla.blob.digest': digest } },
      () => this.read(digest),
    );
  }

  private async read(digest: string): Promise<Uint8Array> {
    if (!DIGEST.test(digest))
      throw new FlotillaError('bus.blob-bad-digest', `"${digest}" is not a sha256 digest`);
    let bytes: Uint8Array | null;
    try {
      bytes = await this.store.getBlob(digest);
    } catch (err) {
      throw new FlotillaError(
        'bus.blob-corrupt',
        `blob ${digest} could not be read: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (bytes === null)
      throw new FlotillaError('bus.blob-not-found', `blob ${digest} is not in the object store`);
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new FlotillaError('bus.blob-digest-mismatch', `blob ${digest} has content hashing to ${actual}`);
    return bytes;
  }
}
