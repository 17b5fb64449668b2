import { samples } from '@flotilla/events/samples';
import { canonicalJson } from '@flotilla/manifests';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, signPlan, type UnsignedPlan, verifyPlanSignature } from './plan-signing.ts';

const { signature: _s, ...plan } = samples.PlanCreated;
const unsigned: UnsignedPlan = plan;

describe('plan signatures', () => {
  const current = generateSigningKey('planner-2026');
  const previous = generateSigningKey('planner-2025');
  const attacker = generateSigningKey('planner-2026');

  it('verifies with the signing key, and with any trusted key during rotation', () => {
    const signed = signPlan(unsigned, current.signing);
    expect(() => verifyPlanSignature(signed, [current.trusted])).not.toThrow();
    const old = signPlan(unsigned, previous.signing);
    expect(() => verifyPlanSignature(old, [current.trusted, previous.trusted])).not.toThrow();
  });

  it('refuses unsigned, unknown-key, forged and tampered plans with a specific code', () => {
    const signed = signPlan(unsigned, current.signing);
    expect(() => verifyPlanSignature(unsigned as never, [current.trusted])).toThrow(
      expect.objectContaining({ code: 'plan.unsigned' }),
    );
    expect(() => verifyPlanSignature(signPlan(unsigned, previous.signing), [current.trusted])).toThrow(
      expect.objectContaining({ code: 'plan.unknown-key' }),
    );
    expect(() => verifyPlanSignature(signPlan(unsigned, attacker.signing), [current.trusted])).toThrow(
      expect.objectContaining({ code: 'plan.bad-signature' }),
    );
    const tampered = { ...signed, bundle: { ...signed.bundle, digest: `sha256:${'f'.repeat(64)}` } };
    expect(() => verifyPlanSignature(tampered, [current.trusted])).toThrow(
      expect.objectContaining({ code: 'plan.bad-signature' }),
    );
    const retargeted = { ...signed, cluster: 'prod' };
    expect(() => verifyPlanSignature(retargeted, [current.trusted])).toThrow(
      expect.objectContaining({ code: 'plan.bad-signature' }),
    );
  });

  it('signs the same bytes whatever the key order of the plan', () => {
    const reordered = Object.fromEntries(Object.entries(unsigned).reverse()) as UnsignedPlan;
    const signed = signPlan(reordered, current.signing);
    expect(() =>
      verifyPlanSignature({ ...signPlan(unsigned, current.signing), signature: signed.signature }, [
        current.trusted,
      ]),
    ).not.toThrow();
    expect(canonicalJson(reordered)).toBe(canonicalJson(unsigned));
  });
});
