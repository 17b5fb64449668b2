import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateNoteSigner,
  type NoteSigner,
  parseNote,
  parseVerifierKey,
  signNote,
  verifierKeyString,
  verifyNote,
} from './signed-note.ts';

// The example key and note of the Go reference implementation (golang.org/x/mod/sumdb/note,
// note_test.go). Ed25519 is deterministic, so matching it byte for byte means any C2SP verifier
// (Go's note package, Rekor and witness tooling) accepts the checkpoints we sign.
const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const SEED = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

function peter(): NoteSigner {
  const verifier = parseVerifierKey(VKEY);
  const x = verifier.publicKey.export({ format: 'jwk' }).x as string;
  const d = Buffer.from(SEED, 'base64').subarray(1).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' });
  return { name: 'PeterNeumann', privateKey, publicKey: createPublicKey(privateKey) };
}

describe('signed notes (C2SP)', () => {
  it('reproduces the Go reference note byte for byte and verifies it', () => {
    const signer = peter();
    expect(verifierKeyString('PeterNeumann', signer.publicKey)).toBe(VKEY);
    expect(signNote(TEXT, signer)).toBe(NOTE);
    expect(verifyNote(NOTE, [parseVerifierKey(VKEY)])).toEqual({ body: TEXT, signedBy: ['PeterNeumann'] });
  });

  it('refuses an edited body, an unknown key and malformed notes with specific codes', () => {
    const v = parseVerifierKey(VKEY);
    expect(() => verifyNote(NOTE.replace('cryptography', 'cryptographY'), [v])).toThrow(
      expect.objectContaining({ code: 'note.bad-signature' }),
    );
    const other = generateNoteSigner('PeterNeumann').signer;
    expect(() => verifyNote(signNote(TEXT, other), [v])).toThrow(
      expect.objectContaining({ code: 'note.unknown-key' }),
    );
    expect(() => parseNote(TEXT)).toThrow(expect.objectContaining({ code: 'note.malformed' }));
    expect(() => parseNote(`${TEXT}\n— PeterNeumann !!\n`)).toThrow(
      expect.objectContaining({ code: 'note.malformed' }),
    );
    expect(() => signNote('no newline', other)).toThrow(expect.objectContaining({ code: 'note.malformed' }));
  });

  it('accepts a PEM public key with a name, and refuses mangled verifier keys', () => {
    const { signer } = generateNoteSigner('flotilla-audit');
    const pem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const note = signNote('hello\n', signer);
    expect(verifyNote(note, [parseVerifierKey(pem, 'flotilla-audit')]).signedBy).toEqual(['flotilla-audit']);
    expect(() => parseVerifierKey(VKEY.replace('c74f20a3', 'c74f20a4'))).toThrow(
      expect.objectContaining({ code: 'note.bad-verifier-key' }),
    );
    expect(() => parseVerifierKey('PeterNeumann+c74f20a3')).toThrow(
      expect.objectContaining({ code: 'note.bad-verifier-key' }),
    );
  });
});
