import { FlotillaError } from '@flotilla/errors';
import { type DataOf, ImageTagDetected, ImageTagMoved } from '@flotilla/events';
import { INDEX_MEDIA_TYPES, isOciError, type ManifestHead, type RegistryClient } from '@flotilla/oci';
import { tagDetectedId, tagMovedId } from './event-ids.ts';
import { diffTags, type TagHint } from './tag-diff.ts';
import type { ImageState, StateStore } from './tag-state.ts';
import type { WatchedImage } from './watched-image.ts';

export type Trigger = 'poll' | 'webhook';

/** Publishes with a fixed id; resolves once stored (`duplicate` when JetStream already had it). */
export type Emit = <D extends typeof ImageTagDetected | typeof ImageTagMoved>(
  def: D,
  data: DataOf<D>,
  id: string,
) => Promise<{ duplicate: boolean }>;

export interface CheckerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface CheckerOptions {
  store: StateStore;
  emit: Emit;
  logger: CheckerLogger;
  maxNewTagsPerCheck: number;
  /** GET an index to report its platforms (one request per new index tag). */
  platforms: boolean;
  createdAt: boolean;
}

export interface CheckResult {
  detected: number;
  moved: number;
  removed: number;
  deferred: number;
  /** The tag list came back 304 (registries that send ETags on tag lists). */
  tagsNotModified: boolean;
  truncated: boolean;
  /** Tags read from the registry. */
  listed: number;
  /**
   * Hints the registry did not confirm yet: Distribution sends its notification before it
   * updates the tag, so a HEAD right after may still show the old digest (or none).
   */
  unsettled: TagHint[];
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;
/** Persist progress every so many events, so a crash during a first scan of a big repo loses little. */
const SAVE_EVERY = 100;

interface Cached {
  state: ImageState;
  revision: number | undefined;
}

function platformName(p: { os: string; architecture: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * One check of one image: list tags, HEAD only what is new (or mutable, or named by a webhook),
 * publish, then record. The state of an owned image is kept in memory between checks, so a quiet
 * cycle touches neither KV nor more than the tag list.
 */
export class ImageChecker {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly opts: CheckerOptions) {}

  /** Drop the in-memory state (lease lost): the next owner reads KV. */
  forget(image: string): void {
    this.cache.delete(image);
  }

  knownTags(image: string): Readonly<Record<string, string>> | undefined {
    return this.cache.get(image)?.state.tags;
  }

  async check(
    image: WatchedImage,
    client: RegistryClient,
    trigger: Trigger,
    hints: TagHint[] = [],
  ): Promise<CheckResult> {
    let cached = this.cache.get(image.image);
    if (!cached) {
      cached = await this.opts.store.load(image.image);
      this.cache.set(image.image, cached);
    }
    const list = await client.listTags(image.repository, { maxTags: image.maxTags });
    const diff = diffTags({
      listed: list.tags,
      truncated: list.truncated,
      known: cached.state.tags,
      tagFilter: image.tagFilter,
      mutableTags: image.mutableTags,
      hints,
      maxNew: this.opts.maxNewTagsPerCheck,
    });
    if (diff.invalid.length > 0) {
      this.opts.logger.warn(
        { image: image.image, names: diff.invalid.slice(0, 5).map((n) => n.slice(0, 200)) },
        'ignoring names that are not valid tags',
      );
    }
    if (list.truncated) {
      this.opts.logger.warn(
        { image: image.image, maxTags: image.maxTags },
        'tag list truncated at maxTags; narrow tagFilter or raise maxTags',
      );
    }
    const result: CheckResult = {
      detected: 0,
      moved: 0,
      removed: diff.removed.length,
      deferred: diff.deferred,
      tagsNotModified: list.notModified,
      truncated: list.truncated,
      listed: list.tags.length,
      unsettled: [],
    };
    const hinted = new Map<string, TagHint>();
    for (const h of hints) if (h.tag) hinted.set(h.tag, h);
    const confirm = (tag: string, digest: string | undefined) => {
      const hint = hinted.get(tag);
      if (hint?.digest && hint.digest !== digest) result.unsettled.push(hint);
      else if (hint && !hint.digest && digest === undefined) result.unsettled.push(hint);
    };
    // Changes made by this check: replayed onto a fresh copy if another writer got in between.
    const changes = new Map<string, string | null>();
    const moves: Record<string, number> = { ...(cached.state.moves ?? {}) };
    for (const tag of diff.removed) changes.set(tag, null);
    let unsaved = diff.removed.length;

    const save = async () => {
      if (unsaved === 0) return;
      await this.persist(image.image, changes, moves);
      unsaved = 0;
    };

    for (const tag of diff.added) {
      const head = await this.head(client, image, tag);
      confirm(tag, head?.digest);
      if (!head) continue;
      const data: DataOf<typeof ImageTagDetected> = {
        image: image.image,
        tag,
        digest: head.digest,
        trigger,
        ...(head.mediaType ? { mediaType: head.mediaType } : {}),
      };
      await this.describe(client, image, head, data);
      await this.opts.emit(ImageTagDetected, data, tagDetectedId(image.image, tag, head.digest));
      changes.set(tag, head.digest);
      result.detected++;
      if (++unsaved >= SAVE_EVERY) await save();
    }

    for (const tag of diff.recheck) {
      const previous = cached.state.tags[tag];
      const head = await this.head(client, image, tag);
      confirm(tag, head?.digest);
      if (!head || !previous || head.digest === previous) continue;
      const generation = (moves[tag] ?? 0) + 1;
      await this.opts.emit(
        ImageTagMoved,
        { image: image.image, tag, previousDigest: previous, digest: head.digest, trigger },
        tagMovedId(image.image, tag, previous, head.digest, generation),
      );
      moves[tag] = generation;
      changes.set(tag, head.digest);
      result.moved++;
      unsaved++;
    }
    await save();
    return result;
  }

  /** HEAD a tag; a tag deleted between list and HEAD, or hashed with other than sha256, is skipped. */
  private async head(
    client: RegistryClient,
    image: WatchedImage,
    tag: string,
  ): Promise<ManifestHead | undefined> {
    let head: ManifestHead;
    try {
      head = await client.headManifest(image.repository, tag);
    } catch (err) {
      if (isOciError(err) && err.code === 'oci.manifest-unknown') {
        this.opts.logger.debug({ image: image.image, tag }, 'tag vanished before its manifest was read');
        return undefined;
      }
      throw err;
    }
    if (!SHA256.test(head.digest)) {
      this.opts.logger.warn({ image: image.image, tag, digest: head.digest }, 'skipping non-sha256 digest');
      return undefined;
    }
    return head;
  }

  /** Optional extras that cost requests: platforms of an index, creation time from the config blob. */
  private async describe(
    client: RegistryClient,
    image: WatchedImage,
    head: ManifestHead,
    data: DataOf<typeof ImageTagDetected>,
  ): Promise<void> {
    const isIndex = INDEX_MEDIA_TYPES.has(head.mediaType);
    if (!(this.opts.platforms && isIndex) && !this.opts.createdAt) return;
    let manifest: Awaited<ReturnType<RegistryClient['getManifest']>>;
    try {
      manifest = await client.getManifest(image.repository, head.digest);
    } catch (err) {
      // Extras only: a manifest too large to read still leaves the tag and digest worth reporting.
      if (!(isOciError(err) && err.code === 'oci.too-large')) throw err;
      this.opts.logger.warn(
        { image: image.image, digest: head.digest, err: err.message },
        'manifest too large to read; reporting the tag without platforms or creation time',
      );
      return;
    }
    if (manifest.kind === 'index' && manifest.platforms?.length) {
      data.platforms = [...new Set(manifest.platforms.map(platformName))];
    }
    if (this.opts.createdAt) {
      const created = await client.getConfigCreated(image.repository, manifest);
      if (created) data.createdAt = created.toISOString();
    }
  }

  private async persist(
    image: string,
    changes: Map<string, string | null>,
    moves: Record<string, number>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let cached = this.cache.get(image);
      if (!cached) {
        cached = await this.opts.store.load(image);
      }
      const tags = { ...cached.state.tags };
      for (const [tag, digest] of changes) {
        if (digest === null) delete tags[tag];
        else tags[tag] = digest;
      }
      const kept = Object.fromEntries(Object.entries(moves).filter(([t]) => t in tags));
      const state: ImageState = {
        image,
        tags,
        ...(Object.keys(kept).length > 0 ? { moves: kept } : {}),
        updatedAt: new Date().toISOString(),
      };
      try {
        const revision = await this.opts.store.save(state, cached.revision);
        this.cache.set(image, { state, revision });
        return;
      } catch (err) {
        if (!(err instanceof FlotillaError && err.code === 'bus.kv-conflict') || attempt >= 3) throw err;
        // Someone else wrote (a previous owner finishing late): merge our changes onto theirs.
        this.opts.logger.info({ image }, 'state changed concurrently; merging');
        this.cache.set(image, await this.opts.store.load(image));
      }
    }
  }
}
