import { describe, expect, it } from 'vitest';
import { inventoryName, pipelineInventoryName } from './inventory.ts';

describe('pipelineInventoryName', () => {
  it('is the cluster inventory for the root pipeline, and one per pipeline otherwise', () => {
    expect(pipelineInventoryName('prod')).toBe(inventoryName('prod'));
    expect(pipelineInventoryName('prod', 'shop')).toBe('flotilla-inventory-prod.shop');
    expect(pipelineInventoryName('prod', 'payments')).not.toBe(pipelineInventoryName('prod', 'shop'));
  });

  it('stays a valid label value (at most 63 characters) and distinct for long names', () => {
    const a = pipelineInventoryName(
      'a-very-long-cluster-name-in-some-region',
      'a-pipeline-name-that-is-long-x',
    );
    const b = pipelineInventoryName(
      'a-very-long-cluster-name-in-some-region',
      'a-pipeline-name-that-is-long-y',
    );
    for (const n of [a, b]) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
    expect(a).not.toBe(b);
  });
});
