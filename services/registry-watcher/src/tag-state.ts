import type { JsonKv } from '@flotilla/bus';
import { FlotillaError } from '@flotilla/errors';

/**
 * What has been reported for one image, one KV entry per image (bucket `registry-watcher-state`).
 * Written only after the events it records were acknowledged by JetStream, so a crash in
 * between re-publishes (deduped by event id) rather than losing an event.
 */
export interface ImageState {
  image: string;
  /** tag → digest last reported. */
  tags: Record<string, string>;
  /** tag → number of moves reported, for move event ids. */
  moves?: Record<string, number>;
  updatedAt: string;
}

export interface StateStore {
  load(image: string): Promise<{ state: ImageState; revision: number | undefined }>;
  /** CAS on `revision`; throws `bus.kv-conflict` when someone else wrote in between. */
  save(state: ImageState, revision: number | undefined): Promise<number>;
}

export function emptyState(image: string): ImageState {
  return { image, tags: {}, updatedAt: new Date(0).toISOString() };
}

export class KvStateStore implements StateStore {
  constructor(private readonly kv: JsonKv<ImageState>) {}

  async load(image: string) {
    const entry = await this.kv.get(image);
    return entry
      ? { state: entry.value, revision: entry.revision }
      : { state: emptyState(image), revision: undefined };
  }

  async save(state: ImageState, revision: number | undefined): Promise<number> {
    return revision === undefined
      ? await this.kv.create(state.image, state)
      : await this.kv.update(state.image, state, revision);
  }
}

/** For benchmarks and unit tests of the checker's request budget (no NATS involved in a quiet cycle anyway). */
export class MemoryStateStore implements StateStore {
  private readonly entries = new Map<string, { state: ImageState; revision: number }>();

  async load(image: string) {
    const e = this.entries.get(image);
    return e
      ? { state: structuredClone(e.state), revision: e.revision }
      : { state: emptyState(image), revision: undefined };
  }

  async save(state: ImageState, revision: number | undefined): Promise<number> {
    const current = this.entries.get(state.image);
    if ((current?.revision ?? undefined) !== revision) {
      throw new FlotillaError('bus.kv-conflict', `state of ${state.image} changed concurrently`, {
        disposition: 'retry',
      });
    }
    const next = (current?.revision ?? 0) + 1;
    this.entries.set(state.image, { state: structuredClone(state), revision: next });
    return next;
  }
}
