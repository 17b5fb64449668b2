import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';

// Signed notes as specified by C2SP (c2sp.org/signed-note), the format of Go's checksum database
// and Sigstore Rekor checkpoints: a UTF-8 body of newline-terminated lines, a blank line, then one
// line per signature, `— <key name> <base64(4-byte key hash || signature)>`. Following it exactly
// means a checkpoint can also be checked with golang.org/x/mod/sumdb/note, not only with our code.

const EM_DASH = '\u2014';
/** Signature type byte of Ed25519 in key hashes and verifier keys. */
const ALG_ED25519 = 0x01;

export interface NoteSigner {
  /** Key name: no spaces, no `+`; names the log (e.g. `flotilla-audit`). */
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface NoteVerifier {
  name: string;
  /** 32-bit id derived from name and public key (the signature line carries it). */
  keyHash: number;
  publicKey: KeyObject;
}

export interface NoteSignature {
  name: string;
  keyHash: number;
  signature: Buffer;
}

export interface Note {
  /** Everything signed: the lines before the blank line, each ending in `\n`. */
  body: string;
  signatures: NoteSignature[];
}

function rawEd25519(publicKey: KeyObject): Buffer {
  // The SPKI DER of an Ed25519 key is a fixed 12-byte prefix followed by the 32-byte key.
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

function checkName(name: string): void {
  if (!name || /[\s+]/.test(name) || name.includes(EM_DASH))
    throw new FlotillaError(
      'note.bad-key-name',
      `key name "${name}" must be non-empty without spaces or "+"`,
    );
}

/** First 4 bytes (big-endian) of SHA-256(name || "\n" || 0x01 || raw public key). */
export function noteKeyHash(name: string, publicKey: KeyObject): number {
  const h = createHash('sha256')
    .update(name)
    .update('\n')
    .update(Buffer.from([ALG_ED25519]))
    .update(rawEd25519(publicKey))
    .digest();
  return h.readUInt32BE(0);
}

/** The verifier key text `<name>+<hex key hash>+<base64(0x01 || key)>` (what sumdb calls a vkey). */
export function verifierKeyString(name: string, publicKey: KeyObject): string {
  checkName(name);
  const hash = noteKeyHash(name, publicKey).toString(16).padStart(8, '0');
  const key = Buffer.concat([Buffer.from([ALG_ED25519]), rawEd25519(publicKey)]).toString('base64');
  return `${name}+${hash}+${key}`;
}

/** Parses a verifier key string, or a PEM public key (then `name` says whose it is). */
export function parseVerifierKey(text: string, name?: string): NoteVerifier {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    if (!name) throw new FlotillaError('note.bad-verifier-key', 'a PEM public key needs a key name');
    const publicKey = createPublicKey(t);
    if (publicKey.asymmetricKeyType !== 'ed25519')
      throw new FlotillaError('note.bad-verifier-key', 'the public key is not an Ed25519 key');
    return { name, keyHash: noteKeyHash(name, publicKey), publicKey };
  }
  // The base64 key may itself hold `+`: only the first two separate fields.
  const m = /^([^+\s]+)\+([^+]*)\+(\S+)$/.exec(t);
  if (!m) throw new FlotillaError('note.bad-verifier-key', 'verifier key must be <name>+<hash>+<key>');
  const [, keyName, hashHex, keyB64] = m as unknown as [string, string, string, string];
  const raw = Buffer.from(keyB64, 'base64');
  if (!/^[0-9a-f]{8}$/.test(hashHex) || raw.length !== 33 || raw[0] !== ALG_ED25519)
    throw new FlotillaError('note.bad-verifier-key', 'verifier key is not an Ed25519 key of this format');
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') },
    format: 'jwk',
  });
  const keyHash = noteKeyHash(keyName, publicKey);
  if (keyHash !== Number.parseInt(hashHex, 16))
    throw new FlotillaError('note.bad-verifier-key', 'verifier key hash does not match its name and key');
  return { name: keyName, keyHash, publicKey };
}

function checkBody(body: string): void {
  if (!body.endsWith('\n')) throw new FlotillaError('note.malformed', 'note body must end with a newline');
  if (body.includes('\n\n'))
    throw new FlotillaError('note.malformed', 'note body must not hold a blank line');
  if (/[\r\t\v\f\0]/.test(body) || body.includes(EM_DASH))
    throw new FlotillaError('note.malformed', 'note body holds a control character or an em dash');
}

/** Signs `body` (newline-terminated lines) and returns the full note text. */
export function signNote(body: string, signer: NoteSigner): string {
  checkBody(body);
  checkName(signer.name);
  const sig = sign(null, Buffer.from(body), signer.privateKey);
  const hash = Buffer.alloc(4);
  hash.writeUInt32BE(noteKeyHash(signer.name, signer.publicKey));
  return `${body}\n${EM_DASH} ${signer.name} ${Buffer.concat([hash, sig]).toString('base64')}\n`;
}

/** Splits a note into its body and signature lines; syntax only, no signature is checked. */
export function parseNote(text: string): Note {
  const split = text.lastIndexOf('\n\n');
  if (split < 0)
    throw new FlotillaError('note.malformed', 'not a signed note: no blank line before signatures');
  const body = text.slice(0, split + 1);
  checkBody(body);
  const sigText = text.slice(split + 2);
  if (!sigText.endsWith('\n'))
    throw new FlotillaError('note.malformed', 'signature block must end with a newline');
  const signatures: NoteSignature[] = [];
  for (const line of sigText.slice(0, -1).split('\n')) {
    const m = new RegExp(`^${EM_DASH} (\\S+) ([A-Za-z0-9+/=]+)$`).exec(line);
    const raw = m ? Buffer.from(m[2]!, 'base64') : undefined;
    if (!m || !raw || raw.length < 5)
      throw new FlotillaError('note.malformed', `malformed signature line "${line.slice(0, 80)}"`);
    signatures.push({ name: m[1]!, keyHash: raw.readUInt32BE(0), signature: raw.subarray(4) });
  }
  if (signatures.length === 0) throw new FlotillaError('note.malformed', 'note carries no signature');
  return { body, signatures };
}

/**
 * Verifies a note against known keys. At least one signature must be by a known key and every
 * signature by a known key must verify (a bad one is forgery, not noise). Returns the body.
 */
export function verifyNote(
  text: string,
  verifiers: readonly NoteVerifier[],
): { body: string; signedBy: string[] } {
  const note = parseNote(text);
  const signedBy: string[] = [];
  for (const s of note.signatures) {
    const v = verifiers.find((k) => k.name === s.name && k.keyHash === s.keyHash);
    if (!v) continue;
    if (!verify(null, Buffer.from(note.body), v.publicKey, s.signature))
      throw new FlotillaError('note.bad-signature', `signature by "${s.name}" does not verify`);
    signedBy.push(s.name);
  }
  if (signedBy.length === 0)
    throw new FlotillaError(
      'note.unknown-key',
      `note is not signed by a known key (signed by ${note.signatures.map((s) => s.name).join(', ')}; known: ${verifiers.map((v) => v.name).join(', ') || 'none'})`,
    );
  return { body: note.body, signedBy };
}

/** A signer from a PKCS#8 PEM Ed25519 private key. */
export function noteSignerFromPem(name: string, pem: string): NoteSigner {
  checkName(name);
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new FlotillaError('note.bad-signing-key', 'the checkpoint signing key is not an Ed25519 key');
  return { name, privateKey, publicKey: createPublicKey(privateKey) };
}

/** A fresh signer and its PKCS#8 PEM (to be stored where only the signer can read it). */
export function generateNoteSigner(name: string): { signer: NoteSigner; privatePem: string } {
  checkName(name);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signer: { name, privateKey, publicKey },
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
