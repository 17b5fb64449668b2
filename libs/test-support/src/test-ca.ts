import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TestCertificate {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  dir: string;
  /** The CA certificate clients and servers verify against. */
  caFile: string;
  /**
   * Issues a certificate signed by this CA: `server` for 127.0.0.1/localhost, a `client`'s, or a
   * `peer`'s (both: a NATS route node accepts routes and dials them, and `verify` checks both ends).
   */
  issue(name: string, kind: 'server' | 'client' | 'peer'): Promise<TestCertificate>;
}

/**
 * A throwaway certificate authority made with the machine's `openssl` (ECDSA P-256, one day):
 * TLS tests run against certificates a real verifier checks, never a disabled check.
 */
export async function createTestCa(label = 'flotilla-test'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ca-'));
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  await exec('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  await exec('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-sha256',
    '-days',
    '1',
    '-subj',
    `/CN=${label} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    caFile,
  ]);
  let serial = 1;
  return {
    dir,
    caFile,
    async issue(name, kind) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      await exec('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
      await exec('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
      const san = 'subjectAltName=IP:127.0.0.1,DNS:localhost\n';
      await writeFile(
        ext,
        {
          server: `${san}extendedKeyUsage=serverAuth\n`,
          client: 'extendedKeyUsage=clientAuth\n',
          peer: `${san}extendedKeyUsage=serverAuth,clientAuth\n`,
        }[kind],
      );
      await exec('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-set_serial',
        String(serial++),
        '-days',
        '1',
        '-sha256',
        '-extfile',
        ext,
        '-out',
        certFile,
      ]);
      return { certFile, keyFile };
    },
  };
}

/** The nats-server `tls {}` block for a server certificate; `verify` asks clients for theirs. */
export function natsTlsConfig(o: { cert: TestCertificate; caFile: string; verify?: boolean }): string {
  return [
    'tls {',
    `  cert_file: ${JSON.stringify(o.cert.certFile)}`,
    `  key_file: ${JSON.stringify(o.cert.keyFile)}`,
    `  ca_file: ${JSON.stringify(o.caFile)}`,
    o.verify ? '  verify: true' : '',
    '  timeout: 2',
    '}',
  ]
    .filter(Boolean)
    .join('\n');
}
