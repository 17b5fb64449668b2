import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';

/**
 * Sealed bundles: a cluster's bundle encrypted to that cluster's applier, so a copy of the
 * object store (or an applier of another cluster) learns nothing, not even which Secrets exist.
 *
 * The construction is HPKE's base mode spelled out with node:crypto (RFC 9180 shape, not its
 * wire format): a fresh X25519 key pair per bundle, ECDH with the recipient's public key, HKDF-
 * SHA256 over the shared secret salted with both public keys, and ChaCha20-Poly1305 with the
 * header (and the cluster it is for) as associated data. Sealing needs only the public key, so
 * the planner never holds anything that opens a bundle.
 *
 * Layout: MAGIC (16) ‖ ephemeral public key (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
 * The plan signs the sha256 of these bytes, so the signature covers the ciphertext.
 */
const MAGIC = Buffer.from('flotilla-seal-1\n', 'latin1');
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + KEY_BYTES + NONCE_BYTES;

// The fixed DER prefixes of X25519 SubjectPublicKeyInfo / PKCS#8, so raw 32-byte keys round-trip.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export type SealErrorCode = 'bundle.seal-invalid' | 'bundle.seal-key-invalid';

export class SealError extends FlotillaError {
  constructor(code: SealErrorCode, message: string, cause?: unknown) {
    super(code, message, { disposition: 'stall', ...(cause ? { cause } : {}) });
    this.name = 'SealError';
  }
}

/** A cluster's sealing key pair: the applier keeps `privatePem` (a Secret), the planner `publicKey`. */
export interface SealingKeyPair {
  /** Base64 of the raw 32-byte X25519 public key: what goes into the planner's config. */
  publicKey: string;
  /** PKCS#8 PEM of the private key. */
  privatePem: string;
}

export function generateSealingKey(): SealingKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: rawPublicKey(publicKey).toString('base64'),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The recipient key from its base64 raw form or a PEM (SPKI). */
export function sealingPublicKey(text: string): KeyObject {
  const t = text.trim();
  try {
    if (t.startsWith('-----BEGIN')) {
      const k = createPublicKey(t);
      if (k.asymmetricKeyType !== 'x25519') throw new Error(`a ${k.asymmetricKeyType} key`);
      return k;
    }
    const raw = Buffer.from(t, 'base64');
    if (raw.length !== KEY_BYTES || raw.toString('base64') !== t) throw new Error('not 32 bytes of base64');
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (err) {
    throw new SealError(
      'bundle.seal-key-invalid',
      `not an X25519 public key (base64 of 32 bytes, or PEM): ${(err as Error).message}`,
      err,
    );
  }
}

/** The applier's private key from PKCS#8 PEM. */
export function sealingPrivateKey(pem: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'x25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (err) {
    throw new SealError(
      'bundle.seal-key-invalid',
      `not an X25519 private key (PKCS#8 PEM): ${(err as Error).message}`,
      err,
    );
  }
}

function rawPublicKey(k: KeyObject): Buffer {
  const der = k.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - KEY_BYTES);
}

/** Whether `bytes` are a sealed bundle (by their magic); says nothing about whether they open. */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && Buffer.from(bytes.subarray(0, MAGIC.length)).equals(MAGIC);
}

/** What binds a sealed bundle to one cluster: a bundle sealed for dev does not open as prod's. */
const contextOf = (cluster: string) => Buffer.from(`flotilla-bundle-v1 cluster=${cluster}`, 'utf8');

function keyFor(shared: Buffer, ephemeral: Buffer, recipient: Buffer, cluster: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), contextOf(cluster), KEY_BYTES),
  );
}

/** Seals `plaintext` for `cluster`'s applier, whose public key is `recipient`. */
export function sealBundle(plaintext: Uint8Array, recipient: KeyObject, cluster: string): Uint8Array {
  const eph = generateKeyPairSync('x25519');
  const ephRaw = rawPublicKey(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const key = keyFor(shared, ephRaw, rawPublicKey(recipient), cluster);
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([MAGIC, ephRaw, nonce]);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([header, contextOf(cluster)]), { plaintextLength: plaintext.length });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([header, body, cipher.getAuthTag()]));
}

/**
 * Opens a sealed bundle with the applier's private key. Anything that does not authenticate —
 * a flipped bit anywhere, a bundle sealed to another key or for another cluster, a truncation —
 * is one `bundle.seal-invalid`, and no plaintext comes out of it.
 */
export function openBundle(sealed: Uint8Array, privateKey: KeyObject, cluster: string): Uint8Array {
  const bytes = Buffer.from(sealed);
  if (!isSealed(bytes)) throw new SealError('bundle.seal-invalid', 'not a sealed bundle (no seal header)');
  if (bytes.length < HEADER_BYTES + TAG_BYTES)
    throw new SealError('bundle.seal-invalid', `sealed bundle truncated (${bytes.length} bytes)`);
  const header = bytes.subarray(0, HEADER_BYTES);
  const ephRaw = bytes.subarray(MAGIC.length, MAGIC.length + KEY_BYTES);
  const nonce = bytes.subarray(MAGIC.length + KEY_BYTES, HEADER_BYTES);
  const body = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  try {
    const ephemeral = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, ephRaw]),
      format: 'der',
      type: 'spki',
    });
    const shared = diffieHellman({ privateKey, publicKey: ephemeral });
    const key = keyFor(shared, Buffer.from(ephRaw), rawPublicKey(createPublicKey(privateKey)), cluster);
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.concat([header, contextOf(cluster)]), { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch (err) {
    throw new SealError(
      'bundle.seal-invalid',
      `sealed bundle does not open for cluster ${cluster}: tampered, or sealed to another key or cluster`,
      err,
    );
  }
}
