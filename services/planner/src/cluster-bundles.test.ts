import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSealingKey } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { parseRecipients } from './cluster-bundles.ts';

/** A key pair whose base64 public key starts with `c` (generated until one does). */
function keyStartingWith(c: string): string {
  for (;;) {
    const { publicKey } = generateSealingKey();
    if (publicKey.startsWith(c)) return publicKey;
  }
}

describe('parseRecipients', () => {
  it("takes an inline base64 key even when it starts with '/' (base64's alphabet has it)", () => {
    const slash = keyStartingWith('/');
    const plain = keyStartingWith('A');
    const keys = parseRecipients(`dev=${slash}, prod=${plain}`);
    expect([...keys.keys()]).toEqual(['dev', 'prod']);
    expect(keys.get('dev')?.asymmetricKeyType).toBe('x25519');
  });

  it('reads a key from a file given by absolute path', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'recipients-')), 'uat.pub');
    writeFileSync(file, `${keyStartingWith('B')}\n`);
    expect(parseRecipients(`uat=${file}`).get('uat')?.asymmetricKeyType).toBe('x25519');
  });

  it('names the cluster and the problem for a missing file or a malformed entry', () => {
    expect(() => parseRecipients('uat=/nonexistent/uat.pub,prod')).toThrow(
      /uat: ENOENT[\s\S]*"prod" is not cluster=<key or file>/,
    );
  });
});
