import { createHash } from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';
import { withSpan } from '@flotilla/telemetry';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Content-addressed blobs in the NATS Object Store: the name is the sha256 of the bytes. */
export class BlobStore {
  constructor(
    readonly store: ObjectStore,
    /** Reads a one-chunk object as one stored message (see `read`); without it, by consumer. */
    private readonly jsm?: JetStreamManager,
  ) {}

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
      bytes = await this.readChunks(digest);
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
    // The bytes are checked here, however they were read.
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new FlotillaError('bus.blob-digest-mismatch', `blob ${digest} has content hashing to ${actual}`);
    return bytes;
  }

  /**
   * A bundle is almost always one chunk (under the store's 128 KiB chunk size): read as that one
   * stored message (`STREAM.MSG.GET`, last message of the object's chunk subject). The Object
   * Store client reads every object through an ordered consumer of its own, which the server
   * keeps until it has been idle a while: an applier reading hundreds of bundles in a resync ran
   * into the stream's consumer limit. Larger objects still go through it.
   */
  private async readChunks(digest: string): Promise<Uint8Array | null> {
    if (!this.jsm) return await this.store.getBlob(digest);
    const info = await this.store.info(digest);
    if (info === null || info.deleted) return null;
    if (info.size === 0) return new Uint8Array();
    if (info.chunks !== 1 || info.options?.link) return await this.store.getBlob(digest);
    const m = await this.jsm.streams.getMessage(`OBJ_${info.bucket}`, {
      last_by_subj: `$O.${info.bucket}.C.${info.nuid}`,
    });
    return m ? m.data : null;
  }
}
