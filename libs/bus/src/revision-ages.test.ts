import { describe, expect, it } from 'vitest';
import { RevisionAges } from './revision-ages.ts';

describe('RevisionAges', () => {
  it('a key that keeps changing revision stays live; one that stops is dead after a TTL on our clock', () => {
    let t = 1000;
    const ages = new RevisionAges(() => t);
    expect(ages.live('a', 1, 3000)).toBe(true); // first sight: counts as just written
    t += 2000;
    expect(ages.live('a', 2, 3000)).toBe(true); // renewed
    t += 2999;
    expect(ages.live('a', 2, 3000)).toBe(true);
    t += 1;
    expect(ages.live('a', 2, 3000)).toBe(false); // same revision for a whole TTL
    t += 10;
    expect(ages.live('a', 3, 3000)).toBe(true); // back: a new revision
  });

  it('never looks at the writer’s clock: a record claiming to expire in an hour dies like any other', () => {
    let t = 0;
    const ages = new RevisionAges(() => t);
    ages.observe('skewed', 7);
    t = 3000;
    expect(ages.live('skewed', 7, 3000)).toBe(false);
  });

  it('retain() forgets departed keys, so one that returns counts from its new sighting', () => {
    let t = 0;
    const ages = new RevisionAges(() => t);
    ages.observe('gone', 1);
    t = 10_000;
    ages.retain(['other']);
    expect(ages.observe('gone', 1)).toBe(0);
  });
});
