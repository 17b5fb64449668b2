import { createHash } from 'node:crypto';
import type { JsonKv } from '@flotilla/bus';
import { FlotillaError } from '@flotilla/errors';
import type { FlotillaEvent, ImageRef } from '@flotilla/events';
import type { HealthStatus, PromotionRecord } from '@flotilla/policy';
import type { ApprovedChange, HeldChange, ObjectIndex } from './change-gate.ts';

/** What the planner knows about one cluster: what it asked for, what was applied, how healthy. */
export interface ClusterState {
  cluster: string;
  stage: string;
  /** Last plan sequence issued within `epoch` (monotonic; never reused even when content repeats). */
  sequence: number;
  /** The leader-lease fencing token `sequence` counts under; plans order by (epoch, sequence). */
  epoch?: number;
  /** The last plan published for this cluster. */
  desired?: {
    planId: string;
    revision: string;
    sequence: number;
    bundleDigest: string;
    /** Hash of the rendered objects only: unchanged content at a new revision publishes no plan. */
    contentDigest: string;
    objects: number;
    createdAt: string;
  };
  /** Newest revision rendered for this cluster (its content may equal `desired`'s). */
  renderedRevision?: string;
  applied?: { revision: string; bundleDigest?: string; planId?: string; at: string };
  health?: {
    status: HealthStatus;
    revision: string;
    bundleDigest?: string;
    since: string;
    /** When the cluster became healthy on this bundle; soak is counted from here. */
    healthySince?: string;
    /**
     * Whose clock `healthySince` is on (the planner instance that received the report). Another
     * instance's wall clock is not comparable with ours (see HealthView.report).
     */
    healthyClock?: string;
  };
  lastError?: { code: string; message: string; at: string; revision?: string };
  lastRenderError?: { file: string; line?: number; code: string; message: string; revision: string };
  /** A change to a gated stage waiting for approval (its plan is not issued). */
  held?: HeldChange;
  /** The last approved change: a re-render of the same content issues its plan. */
  approvedChange?: ApprovedChange;
  /** Approvers of the stage when the last plan was issued under a manual rule (still gated). */
  gatedBy?: string[];
}

export interface HealthyRevision {
  revision: string;
  at: string;
  /** cluster → content digest, to tell a real change from an unrelated commit. */
  content: Record<string, string>;
  images: ImageRef[];
}

export interface StageState {
  stage: string;
  locked?: { by: string; reason?: string; at: string; cause: 'manual' | 'rollback' };
  /** Newest rendered revision and the images its marked fields hold there. */
  revision?: string;
  images: ImageRef[];
  /** Distinct healthy states, newest first: where a rollback goes back to. */
  healthy: HealthyRevision[];
  /**
   * When the stage was last locked or unlocked: names the lock period a rollback request belongs
   * to, so a retried request is the same rollback and a later one (after an unlock) a new one.
   */
  lockChangedAt?: string;
  /** Requests that changed the stage (lock, unlock, rollback), newest last: a retry is answered from here. */
  requests?: StageRequest[];
  /** A rollback about to be pushed, saved before the push and cleared when it is recorded. */
  pendingRollback?: PendingRollback;
}

/** A request that changed a stage, by its tag (operations.ts requestTag, or a rollback's request id). */
export interface StageRequest {
  tag: string;
  at: string;
  /** A rollback's commit and target: what a retried rollback answers. */
  commit?: string;
  toRevision?: string;
}

export interface PendingRollback {
  requestId: string;
  target: string;
  actor: string;
  reason: string;
  fromRevision?: string;
}

/** `list` with `r` added (replacing an earlier entry of its tag), the newest 20 kept. */
export function rememberRequest(list: StageRequest[] | undefined, r: StageRequest): StageRequest[] {
  return [...(list ?? []).filter((x) => x.tag !== r.tag), r].slice(-20);
}

// A promotion's record and its transitions live in @flotilla/policy (promotion-state.ts).
export { OPEN_PROMOTION, type PromotionRecord, type PromotionStatus } from '@flotilla/policy';

export interface ImageTags {
  image: string;
  /** tag → digest, as reported by the registry-watcher. */
  tags: Record<string, string>;
  /**
   * tag → event-stream sequence of the report recorded for it: a report older than the one on
   * record (held by an instance paused meanwhile) does not move a tag back (see withTag).
   */
  seqs?: Record<string, number>;
}

/**
 * `known` with `tag` at `digest`, as the `ImageTagDetected` at stream sequence `seq` reports it;
 * undefined when that changes nothing: the tag is already there, or a later report of it (a
 * higher sequence) is on record. Every instance consumes the same stream, so its sequence orders
 * reports across instances with no clock compared; a report without one (not from the stream)
 * is taken as it comes.
 */
export function withTag(
  known: ImageTags | undefined,
  image: string,
  tag: string,
  digest: string,
  seq?: number,
): ImageTags | undefined {
  const recordedSeq = known?.seqs?.[tag];
  if (seq !== undefined && recordedSeq !== undefined && seq <= recordedSeq) return undefined;
  // The same digest again: only a sequence to note (a stale report must not pass it later).
  if (known?.tags[tag] === digest && seq === undefined) return undefined;
  const seqs = { ...known?.seqs };
  if (seq === undefined) delete seqs[tag];
  else seqs[tag] = seq;
  return {
    image,
    tags: { ...known?.tags, [tag]: digest },
    ...(Object.keys(seqs).length > 0 ? { seqs } : {}),
  };
}

export interface Meta {
  /** Newest revision rendered (successfully or not): older commits arriving late are skipped. */
  lastRenderedRevision?: string;
  /** Revision whose flotilla.yaml is in force. */
  pipelineRevision?: string;
  /**
   * Commits this planner pushed itself (newest last, bounded). Under `signatures: require` they
   * are the only unsigned commits it renders: it knows their content because it wrote them.
   */
  ownCommits?: string[];
}

/** Stable id of promoting these images from → to: re-evaluation after a restart finds the same record. */
export function promotionId(from: string, to: string, images: readonly ImageRef[]): string {
  const canonical = images
    .map((i) => `${i.name ?? ''}=${i.repository}@${i.digest}`)
    .sort()
    .join(',');
  return `${to}-${createHash('sha256').update(`${from}>${to}:${canonical}`).digest('hex').slice(0, 16)}`;
}

type Entry = ClusterState | StageState | PromotionRecord | ImageTags | Meta | ClusterObjects;

/**
 * The object index (`objectIndex`) of each bundle a cluster may still be diffed against: the last
 * plan's, a held change's, the newest render's. Its own key per cluster (`objects/<cluster>`),
 * written only when a cluster renders new content and read only to diff a held change, so the
 * cluster entry that every health report rewrites stays small; never loaded at activation.
 */
export interface ClusterObjects {
  bundles: Record<string, ObjectIndex>;
}

/**
 * An entry as stored: the decision and the events announcing it that are not yet acknowledged by
 * JetStream, in one KV value, so a crash or a NATS outage between the save and the publish
 * cannot lose the event (it is published again, under the same id, until acknowledged).
 */
type Stored = Entry & { outbox?: FlotillaEvent[] };

/** Events saved with an entry and not yet acknowledged, by the entry's full key. */
export interface OutboxEntry {
  key: string;
  entry: Entry;
  events: FlotillaEvent[];
}

/** Key prefix of a pipeline's entries; the root flotilla.yaml pipeline keeps unprefixed keys. */
const PIPELINE_PREFIX = 'pipeline/';

/** `objects/<cluster>`, or `pipeline/<name>/objects/<cluster>`. */
function isObjectsKey(key: string): boolean {
  const rest = key.startsWith(PIPELINE_PREFIX) ? key.split('/').slice(2).join('/') : key;
  return rest.startsWith('objects/');
}

/** The scope name of the root pipeline's (unprefixed) entries in `load(only)` and `drop`. */
export const ROOT_SCOPE = '';

/** Commits pushed by any planner instance (a bounded list, updated by compare-and-set). */
const OWN_COMMITS_KEY = 'own-commits';

/** Which pipeline an entry belongs to: a name, ROOT_SCOPE, or undefined for the repo's own (meta, tags). */
function scopeOf(key: string): string | undefined {
  if (key.startsWith(PIPELINE_PREFIX)) return key.slice(PIPELINE_PREFIX.length).split('/')[0] ?? '';
  const kind = key.split('/')[0];
  return kind === 'cluster' || kind === 'stage' || kind === 'promotion' || kind === 'objects'
    ? ROOT_SCOPE
    : undefined;
}

/**
 * Throws (`bus.lease-lost`) unless this instance may write the entries of `scope` now: a
 * pipeline's name, ROOT_SCOPE for the root pipeline's, undefined for the repo's own (meta, tags).
 * Called before every write: a leader deposed while it was paused or cut off still has work in
 * hand when it resumes, and must not overwrite what its successor saved meanwhile.
 */
export type StateFence = (scope: string | undefined) => void;

/**
 * The materialised view, written through to NATS KV on every change (one key per cluster,
 * stage, promotion and image) and loaded whole when this instance becomes leader. A pipeline's
 * entries are written only by the holder of its lease (each write checks it first: StateFence),
 * through one queue, so plain puts suffice. The repo's shared entries (tags, own commits), which
 * sharded instances all write and no lease covers, are written by compare-and-set instead
 * (recordTag, shareOwnCommit).
 *
 * State is kept per pipeline: the root state (a repo's flotilla.yaml, unprefixed keys as before
 * pipelines existed) holds the repo's meta and the registry's tags; `scoped(name)` is a pipeline
 * of `pipelines/` under `pipeline/<name>/`, sharing the root's tags.
 */
export class PlannerState {
  readonly clusters = new Map<string, ClusterState>();
  readonly stages = new Map<string, StageState>();
  readonly promotions = new Map<string, PromotionRecord>();
  readonly tags: Map<string, ImageTags>;
  meta: Meta = {};
  private readonly children = new Map<string, PlannerState>();
  /** Shared by the root and its pipelines (full keys): what `publishOutbox` still owes. */
  private readonly outbox: Map<string, OutboxEntry>;

  constructor(
    private readonly kv: JsonKv<Stored>,
    /** Checked before every write (default: none, for a view no other instance writes). */
    private readonly fence: StateFence = () => {},
    private readonly prefix = '',
    private readonly root?: PlannerState,
  ) {
    this.tags = root ? root.tags : new Map();
    this.outbox = root ? root.outbox : new Map();
  }

  /** The state of pipeline `name` (a file under pipelines/). */
  scoped(name: string): PlannerState {
    if (this.root) return this.root.scoped(name);
    let c = this.children.get(name);
    if (!c) {
      c = new PlannerState(this.kv, this.fence, `${PIPELINE_PREFIX}${name}/`, this);
      this.children.set(name, c);
    }
    return c;
  }

  /**
   * Loads the root and every pipeline's state in one pass over the bucket; with `only`, just
   * those pipelines' entries (`ROOT_SCOPE` for the unprefixed root pipeline) and the registry's
   * tags: a sharded planner loads a pipeline when it takes it over, and never another
   * instance's (whose outbox it would otherwise publish and overwrite with a stale copy).
   */
  async load(only?: ReadonlySet<string>): Promise<void> {
    if (this.root) return await this.root.load(only);
    if (only) {
      for (const scope of only) this.drop(scope);
      this.tags.clear();
    } else {
      this.reset(true);
      this.outbox.clear();
      for (const c of this.children.values()) c.reset(true);
    }
    for (const key of await this.kv.keys()) {
      if (isObjectsKey(key)) continue;
      const scope = scopeOf(key);
      if (only && scope !== undefined && !only.has(scope)) continue;
      if (only && scope === undefined && !key.startsWith('tags/')) continue;
      const entry = await this.kv.get(key);
      if (!entry) continue;
      const { outbox, ...value } = entry.value;
      if (outbox && outbox.length > 0) this.outbox.set(key, { key, entry: value, events: outbox });
      entry.value = value;
      let target: PlannerState = this;
      let rest = key;
      if (key.startsWith(PIPELINE_PREFIX)) {
        const [name = '', ...tail] = key.slice(PIPELINE_PREFIX.length).split('/');
        target = this.scoped(name);
        rest = tail.join('/');
      }
      target.take(rest, entry.value);
    }
  }

  /**
   * Forgets a pipeline's entries (`ROOT_SCOPE`: the root pipeline's) and the events they still
   * owe: a sharded planner that hands a pipeline over must not publish or save it any more.
   */
  drop(scope: string): void {
    if (this.root) {
      this.root.drop(scope);
      return;
    }
    for (const key of [...this.outbox.keys()]) if (scopeOf(key) === scope) this.outbox.delete(key);
    if (scope === ROOT_SCOPE) this.reset(false);
    else this.children.get(scope)?.reset(false);
  }

  /** Empties the view (`withMeta`: the meta too, which belongs to the repo, not the root pipeline). */
  private reset(withMeta: boolean): void {
    this.clusters.clear();
    this.stages.clear();
    this.promotions.clear();
    if (!this.root && withMeta) this.tags.clear();
    if (withMeta) this.meta = {};
  }

  private take(key: string, value: Entry): void {
    const [kind, ...rest] = key.split('/');
    const name = rest.join('/');
    if (kind === 'cluster') this.clusters.set(name, value as ClusterState);
    else if (kind === 'stage') this.stages.set(name, value as StageState);
    else if (kind === 'promotion') this.promotions.set(name, value as PromotionRecord);
    else if (kind === 'tags' && !this.root) this.tags.set(name, value as ImageTags);
    else if (kind === 'meta') this.meta = value as Meta;
  }

  cluster(name: string, stage: string): ClusterState {
    let c = this.clusters.get(name);
    if (!c) {
      c = { cluster: name, stage, sequence: 0 };
      this.clusters.set(name, c);
    }
    c.stage = stage;
    return c;
  }

  stage(name: string): StageState {
    let s = this.stages.get(name);
    if (!s) {
      s = { stage: name, images: [], healthy: [] };
      this.stages.set(name, s);
    }
    return s;
  }

  /** Saves the cluster with `events` in its outbox (published afterwards by `publishOutbox`). */
  async saveCluster(c: ClusterState, events: FlotillaEvent[] = []): Promise<void> {
    await this.write(`${this.prefix}cluster/${c.cluster}`, c, events);
  }

  /**
   * Records the object index of `bundleDigest` for `cluster`, keeping only the indexes of the
   * bundles in `keep` (what runs, what is held) beside it.
   */
  async saveObjectIndex(
    cluster: string,
    bundleDigest: string,
    index: ObjectIndex,
    keep: ReadonlyArray<string | undefined>,
  ): Promise<void> {
    const key = `${this.prefix}objects/${cluster}`;
    const was = (await this.kv.get(key))?.value as ClusterObjects | undefined;
    const bundles: Record<string, ObjectIndex> = {};
    for (const d of keep) if (d && was?.bundles[d]) bundles[d] = was.bundles[d];
    bundles[bundleDigest] = index;
    this.fence(scopeOf(key));
    await this.kv.put(key, { bundles });
  }

  /** The object index recorded for `bundleDigest` of `cluster`, if the planner rendered it. */
  async objectIndex(cluster: string, bundleDigest: string): Promise<ObjectIndex | undefined> {
    const was = (await this.kv.get(`${this.prefix}objects/${cluster}`))?.value as ClusterObjects | undefined;
    return was?.bundles[bundleDigest];
  }

  /** Saves the stage with `events` in its outbox (published afterwards by `publishOutbox`). */
  async saveStage(s: StageState, events: FlotillaEvent[] = []): Promise<void> {
    await this.write(`${this.prefix}stage/${s.stage}`, s, events);
  }

  /** Saves the promotion with `events` in its outbox (published afterwards by `publishOutbox`). */
  async savePromotion(p: PromotionRecord, events: FlotillaEvent[] = []): Promise<void> {
    p.updatedAt = new Date().toISOString();
    this.promotions.set(p.id, p);
    await this.write(`${this.prefix}promotion/${p.id}`, p, events);
  }

  /** Events saved and not yet acknowledged, oldest entry first. */
  pendingEvents(): OutboxEntry[] {
    return [...this.outbox.values()];
  }

  /**
   * Publishes every pending event (each under its own id: JetStream drops a copy already stored
   * within its duplicate window), then saves the entry without it. Stops at the first failure,
   * leaving that event and the rest pending; answers the events acknowledged.
   */
  async publishOutbox(publish: (event: FlotillaEvent) => Promise<unknown>): Promise<FlotillaEvent[]> {
    const done: FlotillaEvent[] = [];
    for (const pending of [...this.outbox.values()]) await this.publishEntry(pending, publish, done);
    return done;
  }

  /**
   * Publishes the events still owed for cluster `name` only: a plan is issued after the approval
   * that released it is on record, even when the plan is rendered before the planner got round
   * to its outbox (a restart renders before it activates).
   */
  async publishClusterOutbox(
    name: string,
    publish: (event: FlotillaEvent) => Promise<unknown>,
  ): Promise<void> {
    const pending = this.outbox.get(`${this.prefix}cluster/${name}`);
    if (pending) await this.publishEntry(pending, publish, []);
  }

  private async publishEntry(
    pending: OutboxEntry,
    publish: (event: FlotillaEvent) => Promise<unknown>,
    done: FlotillaEvent[],
  ): Promise<void> {
    while (pending.events.length > 0) {
      const event = pending.events[0] as FlotillaEvent;
      // A deposed leader leaves what it owes to its successor, which loaded it with the entry.
      this.fence(scopeOf(pending.key));
      await publish(event);
      done.push(event);
      pending.events.shift();
    }
    // Only if nothing was saved for the key meanwhile (that save kept its own events).
    if (this.outbox.get(pending.key) !== pending) return;
    this.fence(scopeOf(pending.key));
    this.outbox.delete(pending.key);
    await this.kv.put(pending.key, pending.entry);
  }

  /** One KV write of the entry and its outbox (events still pending for the key are kept). */
  private async write(key: string, entry: Entry, events: FlotillaEvent[] = []): Promise<void> {
    this.fence(scopeOf(key));
    const owed = [...(this.outbox.get(key)?.events ?? []), ...events];
    await this.kv.put(key, owed.length > 0 ? { ...entry, outbox: owed } : entry);
    if (owed.length > 0) this.outbox.set(key, { key, entry, events: owed });
    else this.outbox.delete(key);
  }

  /**
   * Records that `image:tag` is `digest` (reported at stream sequence `seq`) and answers the
   * image's tags as now on record, other instances' included.
   *
   * The tags are the repo's, not a pipeline's: sharded, every instance that serves a pipeline
   * records the tags it is told of, so no lease covers them and a fence could only refuse
   * everyone. A plain put of this instance's copy would drop what others recorded since it loaded
   * (or all that a paused instance missed). So the change, not the copy, is written: read the
   * entry, apply the one tag to it (withTag), and write it only if nobody wrote since
   * (compare-and-set on the KV revision); on a conflict read the newer entry and apply it again.
   * What others recorded is kept, and a report older than the one on record changes nothing.
   */
  async recordTag(image: string, tag: string, digest: string, seq?: number): Promise<ImageTags> {
    if (this.root) return await this.root.recordTag(image, tag, digest, seq);
    const kv = this.kv as unknown as JsonKv<ImageTags>;
    const recorded = await updateByRevision(kv, `tags/${image}`, (known) =>
      withTag(known, image, tag, digest, seq),
    );
    const now = recorded ?? { image, tags: {} };
    this.tags.set(image, now);
    return now;
  }

  async saveMeta(): Promise<void> {
    await this.write(`${this.prefix}meta`, this.meta);
  }

  /**
   * Adds `sha` to the commits every instance of a sharded planner trusts as its own (one list
   * shared through KV, compare-and-set so concurrent pushers do not drop each other's), keeping
   * the newest `keep`; answers the list.
   */
  async shareOwnCommit(sha: string, keep: number): Promise<string[]> {
    const kv = this.kv as unknown as JsonKv<{ commits: string[] }>;
    const shared = await updateByRevision(kv, OWN_COMMITS_KEY, (current) => ({
      commits: [...(current?.commits ?? []).filter((s) => s !== sha), sha].slice(-keep),
    }));
    return shared?.commits ?? [];
  }

  /** The commits any instance of a sharded planner pushed (see shareOwnCommit). */
  async sharedOwnCommits(): Promise<string[]> {
    const kv = this.kv as unknown as JsonKv<{ commits: string[] }>;
    return (await kv.get(OWN_COMMITS_KEY))?.value.commits ?? [];
  }
}

/**
 * Applies `change` to the entry at `key` by compare-and-set on its KV revision, reading the newer
 * entry and applying `change` again whenever someone wrote it in between; `change` answers
 * undefined when there is nothing to write. Answers the entry as written (or as found).
 */
async function updateByRevision<T>(
  kv: JsonKv<T>,
  key: string,
  change: (current: T | undefined) => T | undefined,
): Promise<T | undefined> {
  for (;;) {
    const current = await kv.get(key);
    const next = change(current?.value);
    if (next === undefined) return current?.value;
    try {
      if (current) await kv.update(key, next, current.revision);
      else await kv.create(key, next);
      return next;
    } catch (err) {
      if (!(err instanceof FlotillaError && err.code === 'bus.kv-conflict')) throw err;
    }
  }
}
