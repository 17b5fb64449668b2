import { describe, expect, it } from 'vitest';
import {
  generateSealingKey,
  isSealed,
  openBundle,
  sealBundle,
  sealingPrivateKey,
  sealingPublicKey,
} from './sealed-bundle.ts';

const prod = generateSealingKey();
const dev = generateSealingKey();
const plaintext = new TextEncoder().encode('{"objects":[{"kind":"Secret","data":{"password":"hunter2"}}]}');

describe('sealed bundles', () => {
  it('open with the cluster key only; the ciphertext shows nothing of the plaintext', () => {
    const sealed = sealBundle(plaintext, sealingPublicKey(prod.publicKey), 'prod');
    expect(isSealed(sealed)).toBe(true);
    expect(isSealed(plaintext)).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('hunter2'))).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('Secret'))).toBe(false);
    expect(openBundle(sealed, sealingPrivateKey(prod.privatePem), 'prod')).toEqual(plaintext);
    // Fresh ephemeral key and nonce each time: the same bundle never seals to the same bytes.
    expect(sealBundle(plaintext, sealingPublicKey(prod.publicKey), 'prod')).not.toEqual(sealed);
  });

  it('refuses another key, another cluster, and every tampered region', () => {
    const sealed = sealBundle(plaintext, sealingPublicKey(prod.publicKey), 'prod');
    const key = sealingPrivateKey(prod.privatePem);
    expect(() => openBundle(sealed, sealingPrivateKey(dev.privatePem), 'prod')).toThrow(
      expect.objectContaining({ code: 'bundle.seal-invalid' }),
    );
    expect(() => openBundle(sealed, key, 'dev')).toThrow(/does not open for cluster dev/);
    // magic, ephemeral key, nonce, ciphertext, tag
    for (const at of [0, 20, 50, 70, sealed.length - 1]) {
      const bad = Uint8Array.from(sealed);
      bad[at] = (bad[at] as number) ^ 0x01;
      expect(() => openBundle(bad, key, 'prod'), `byte ${at}`).toThrow(
        expect.objectContaining({ code: 'bundle.seal-invalid' }),
      );
    }
    expect(() => openBundle(sealed.subarray(0, 70), key, 'prod')).toThrow(/truncated/);
    expect(() => openBundle(plaintext, key, 'prod')).toThrow(/not a sealed bundle/);
  });

  it('keys: base64 raw or PEM public keys; anything else is refused with a reason', () => {
    const pem = sealingPublicKey(prod.publicKey).export({ type: 'spki', format: 'pem' }).toString();
    const sealed = sealBundle(plaintext, sealingPublicKey(pem), 'prod');
    expect(openBundle(sealed, sealingPrivateKey(prod.privatePem), 'prod')).toEqual(plaintext);
    for (const bad of ['', 'not base64!', Buffer.alloc(31).toString('base64')])
      expect(() => sealingPublicKey(bad)).toThrow(
        expect.objectContaining({ code: 'bundle.seal-key-invalid' }),
      );
    expect(() => sealingPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).toThrow(
      expect.objectContaining({ code: 'bundle.seal-key-invalid' }),
    );
  });
});
