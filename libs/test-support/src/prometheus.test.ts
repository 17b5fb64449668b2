import { describe, expect, it } from 'vitest';
import { metricSum } from './prometheus.ts';

const text = `# HELP checks_total Checks by trigger and result.
# TYPE checks_total counter
checks_total{trigger="poll",result="unchanged"} 3
checks_total{trigger="webhook",result="unchanged"} 2
checks_total{trigger="webhook",result="changed"} 1
checks_total_other 100
lag_seconds 0.25
escaped_total{path="a\\"b",result="unchanged"} 7
`;

describe('metricSum', () => {
  it('sums the samples of one name whose labels include every label asked for', () => {
    expect(metricSum(text, 'checks_total')).toBe(6);
    expect(metricSum(text, 'checks_total', { result: 'unchanged' })).toBe(5);
    expect(metricSum(text, 'checks_total', { trigger: 'webhook', result: 'changed' })).toBe(1);
    expect(metricSum(text, 'lag_seconds')).toBe(0.25);
    expect(metricSum(text, 'escaped_total', { path: 'a\\"b' })).toBe(7);
  });

  it('a name that is a prefix of another, or a label value that only contains the one asked for, does not count', () => {
    expect(metricSum(text, 'checks')).toBe(0);
    expect(metricSum(text, 'checks_total', { result: 'change' })).toBe(0);
    expect(metricSum(text, 'missing_total')).toBe(0);
  });
});
