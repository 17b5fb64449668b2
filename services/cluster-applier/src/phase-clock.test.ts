import { describe, expect, it } from 'vitest';
import { PhaseClock } from './phase-clock.ts';

describe('PhaseClock', () => {
  it('records each phase end as whole ms since the clock started, in first-marked order', () => {
    let t = 1000;
    const clock = new PhaseClock(() => t);
    t = 1012.4;
    clock.mark('bundle');
    t = 1500.6;
    clock.mark('dry-run');
    t = 1600;
    clock.mark('bundle');
    expect(clock.toJSON()).toEqual({ bundle: 600, 'dry-run': 501 });
    expect(Object.keys(clock.toJSON())).toEqual(['bundle', 'dry-run']);
  });
});
