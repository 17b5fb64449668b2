import type { JsonKv } from '@flotilla/bus';
import { describe, expect, it } from 'vitest';
import { type ImageTags, PlannerState, withTag } from '../src/state.ts';
import { stateNats } from './state-nats.ts';

// The repo's own entries (image tags, the commits planners pushed) are written by every sharded
// planner instance and covered by no lease. Two real PlannerState instances on one real NATS race
// on the same key; the interleaving is driven, not waited for: one instance's read is held until
// the other has written, as when it is paused (or slow) between its read and its write.

const IMAGE = 'localhost:5000/shop/web';
const digest = (c: string) => `sha256:${c.repeat(64)}`;

const nats = stateNats();

/**
 * The real bucket, with the first read of `key` held until `release()` once it has read
 * (`hasRead`): whatever runs in between writes after that read and before the write it leads to.
 */
function holdingFirstRead<T>(kv: JsonKv<T>, key: string) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let markRead!: () => void;
  const hasRead = new Promise<void>((r) => {
    markRead = r;
  });
  let reads = 0;
  const held = new Proxy(kv, {
    get(target, prop) {
      if (prop !== 'get') {
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (k: string) => {
        const found = await target.get(k);
        if (k === key && reads++ === 0) {
          markRead();
          await released;
        }
        return found;
      };
    },
  });
  return { kv: held, hasRead, release, reads: () => reads };
}

/** Two planner states on one fresh bucket; the first one's first read of `key` is held. */
async function racing(key: string) {
  const bucket = nats.bucket();
  const kv: ConstructorParameters<typeof PlannerState>[0] = await nats.bus.kv(bucket);
  const hold = holdingFirstRead(kv, key);
  return {
    hold,
    paused: new PlannerState(hold.kv),
    other: new PlannerState(await nats.bus.kv(bucket)),
    stored: async () => (await (await nats.bus.kv<ImageTags>(bucket)).get(key))?.value,
    storedCommits: async () =>
      (await (await nats.bus.kv<{ commits: string[] }>(bucket)).get(key))?.value.commits,
  };
}

describe('tags written by two planner instances at once', () => {
  it('a write that lost the race is applied again to the newer entry: neither tag is lost', async () => {
    const r = await racing(`tags/${IMAGE}`);
    const late = r.paused.recordTag(IMAGE, '1.0.0', digest('a'), 10);
    await r.hold.hasRead; // it read the (empty) entry…
    await r.other.recordTag(IMAGE, '1.1.0', digest('b'), 11); // …the other instance wrote…
    r.hold.release(); // …then its write: refused on the revision, read again, applied again.
    const recorded = await late;

    expect(r.hold.reads()).toBe(2);
    const both = { '1.0.0': digest('a'), '1.1.0': digest('b') };
    expect((await r.stored())?.tags).toEqual(both);
    // Each instance's view now holds what the other recorded too.
    expect(recorded.tags).toEqual(both);
    expect(r.paused.tags.get(IMAGE)?.tags).toEqual(both);
  });

  it("a paused instance's older report of a moved tag does not move it back", async () => {
    const r = await racing(`tags/${IMAGE}`);
    // Paused with the report at stream sequence 10 (latest → a) in hand, after reading.
    const late = r.paused.recordTag(IMAGE, 'latest', digest('a'), 10);
    await r.hold.hasRead;
    // Meanwhile the other instance records it and the tag's move at sequence 20 (latest → c).
    await r.other.recordTag(IMAGE, 'latest', digest('a'), 10);
    await r.other.recordTag(IMAGE, 'latest', digest('c'), 20);
    r.hold.release();

    expect((await late).tags).toEqual({ latest: digest('c') });
    expect(await r.stored()).toEqual({ image: IMAGE, tags: { latest: digest('c') }, seqs: { latest: 20 } });
    expect(r.paused.tags.get(IMAGE)?.tags.latest).toBe(digest('c'));
  });
});

describe('commits pushed by two planner instances at once', () => {
  it('both are kept in the shared list', async () => {
    const r = await racing('own-commits');
    const late = r.paused.shareOwnCommit('a'.repeat(40), 10);
    await r.hold.hasRead;
    await r.other.shareOwnCommit('b'.repeat(40), 10);
    r.hold.release();

    expect(await late).toEqual(['b'.repeat(40), 'a'.repeat(40)]);
    expect(await r.storedCommits()).toEqual(['b'.repeat(40), 'a'.repeat(40)]);
  });
});

describe('withTag (pure)', () => {
  const known: ImageTags = { image: IMAGE, tags: { '1.0.0': digest('a') }, seqs: { '1.0.0': 10 } };

  it('adds a tag beside the others, with its sequence', () => {
    expect(withTag(known, IMAGE, '1.1.0', digest('b'), 11)).toEqual({
      image: IMAGE,
      tags: { '1.0.0': digest('a'), '1.1.0': digest('b') },
      seqs: { '1.0.0': 10, '1.1.0': 11 },
    });
  });

  it('moves a tag only for a later report', () => {
    expect(withTag(known, IMAGE, '1.0.0', digest('c'), 9)).toBeUndefined();
    expect(withTag(known, IMAGE, '1.0.0', digest('c'), 10)).toBeUndefined();
    expect(withTag(known, IMAGE, '1.0.0', digest('c'), 12)?.tags['1.0.0']).toBe(digest('c'));
  });

  it('writes nothing for what is on record; notes a later sequence of the same digest', () => {
    expect(withTag(known, IMAGE, '1.0.0', digest('a'))).toBeUndefined();
    expect(withTag(known, IMAGE, '1.0.0', digest('a'), 15)?.seqs).toEqual({ '1.0.0': 15 });
  });

  it('takes a report without a sequence as it comes (not from the stream)', () => {
    expect(withTag(undefined, IMAGE, 'dev', digest('d'))).toEqual({
      image: IMAGE,
      tags: { dev: digest('d') },
    });
    expect(withTag(known, IMAGE, '1.0.0', digest('e'))).toEqual({
      image: IMAGE,
      tags: { '1.0.0': digest('e') },
    });
  });
});
