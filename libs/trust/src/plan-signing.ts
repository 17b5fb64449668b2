import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FlotillaError } from '@flotilla/errors';
import type { PlanCreated } from '@flotilla/events';
import { canonicalJson } from '@flotilla/manifests';
import type { Static } from '@sinclair/typebox';

export type PlanData = Static<typeof PlanCreated.data>;
export type UnsignedPlan = Omit<PlanData, 'signature'>;

/** What the signature covers: every plan field but the signature, bound to a purpose string. */
export function signedPayload(plan: UnsignedPlan): Buffer {
  return Buffer.from(`flotilla-plan-v1\n${canonicalJson(plan)}`);
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

export interface TrustedKey {
  keyId: string;
  publicKey: KeyObject;
}

export function signPlan(plan: UnsignedPlan, key: SigningKey): PlanData {
  const value = sign(null, signedPayload(plan), key.privateKey).toString('base64');
  return { ...plan, signature: { alg: 'ed25519', keyId: key.keyId, value } };
}

/**
 * Checks a plan's signature against the trusted keys (several during rotation). Every failure
 * is a stalled error: a forged or tampered plan never becomes valid by retrying.
 */
export function verifyPlanSignature(plan: PlanData, trusted: readonly TrustedKey[]): void {
  if (!plan.signature) throw new FlotillaError('plan.unsigned', `plan ${plan.planId} carries no signature`);
  const { signature, ...unsigned } = plan;
  const key = trusted.find((k) => k.keyId === signature.keyId);
  if (!key)
    throw new FlotillaError(
      'plan.unknown-key',
      `plan ${plan.planId} is signed with key "${signature.keyId}", which is not trusted (trusted: ${trusted.map((k) => k.keyId).join(', ') || 'none'})`,
    );
  const ok = verify(null, signedPayload(unsigned), key.publicKey, Buffer.from(signature.value, 'base64'));
  if (!ok)
    throw new FlotillaError(
      'plan.bad-signature',
      `plan ${plan.planId} signature does not verify with key "${key.keyId}"`,
    );
}

export function generateSigningKey(keyId: string): {
  signing: SigningKey;
  trusted: TrustedKey;
  privatePem: string;
  publicPem: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signing: { keyId, privateKey },
    trusted: { keyId, publicKey },
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function signingKeyFromPem(keyId: string, pem: string): SigningKey {
  return { keyId, privateKey: createPrivateKey(pem) };
}

export function trustedKeyFromPem(keyId: string, pem: string): TrustedKey {
  return { keyId, publicKey: createPublicKey(pem) };
}

/** `id=path,id2=path2` (env-friendly) → trusted keys loaded from PEM files. */
export function loadTrustedKeys(spec: string | Record<string, string>): TrustedKey[] {
  const entries =
    typeof spec === 'string'
      ? spec
          .split(',')
          .filter(Boolean)
          .map((pair) => pair.split('=') as [string, string])
      : Object.entries(spec);
  return entries.map(([id, path]) => trustedKeyFromPem(id.trim(), readFileSync(path.trim(), 'utf8')));
}
