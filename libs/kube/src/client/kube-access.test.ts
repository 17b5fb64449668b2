import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inClusterAccess, kubeconfigAccess, loadKubeAccess } from './kube-access.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-access-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');
// A ServiceAccount-style JWT (only the payload matters here).
const jwt = `x.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:team-a:applier' })).toString('base64url')}.y`;

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const path = join(dir, `kc-${Math.random().toString(16).slice(2)}`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'ctx',
      clusters: [
        {
          name: 'c',
          cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority-data': b64('CA'), ...cluster },
        },
      ],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    }),
  );
  return path;
}

describe('kube access', () => {
  it('reads client certificates from a kubeconfig', async () => {
    const a = await kubeconfigAccess(
      kubeconfig({ 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') }),
    );
    expect(a.server).toBe('https://127.0.0.1:6443');
    expect(a.ca?.toString()).toBe('CA');
    expect(a.cert?.toString()).toBe('CERT');
    expect(a.key?.toString()).toBe('KEY');
    expect(await a.headers()).toEqual({});
  });

  it('uses a token and names the ServiceAccount it stands for', async () => {
    const a = await kubeconfigAccess(kubeconfig({ token: jwt }));
    expect(await a.headers()).toEqual({ authorization: `Bearer ${jwt}` });
    expect(a.identity).toBe('system:serviceaccount:team-a:applier');
  });

  it('reads token files relative to the kubeconfig and files for certificates', async () => {
    writeFileSync(join(dir, 'token'), 'file-token\n');
    writeFileSync(join(dir, 'ca.crt'), 'FILE-CA');
    const a = await kubeconfigAccess(
      kubeconfig(
        { tokenFile: 'token' },
        { 'certificate-authority-data': undefined, 'certificate-authority': 'ca.crt' },
      ),
    );
    expect(await a.headers()).toEqual({ authorization: 'Bearer file-token' });
    expect(a.ca?.toString()).toBe('FILE-CA');
  });

  it('in-cluster: service host from the environment, token and CA from the mounted ServiceAccount', async () => {
    const sa = mkdtempSync(join(tmpdir(), 'sa-'));
    writeFileSync(join(sa, 'token'), jwt);
    writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
    const a = inClusterAccess(sa, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
    expect(a.server).toBe('https://10.0.0.1:443');
    expect(a.ca?.toString()).toBe('SA-CA');
    expect(await a.headers()).toEqual({ authorization: `Bearer ${jwt}` });
    expect(a.identity).toBe('system:serviceaccount:team-a:applier');
  });

  it('KUBECONFIG wins over in-cluster; a missing context is a clear error', async () => {
    const path = kubeconfig({ token: 't' });
    const a = await loadKubeAccess({}, { KUBECONFIG: path, KUBERNETES_SERVICE_HOST: '10.0.0.1' });
    expect(a.server).toBe('https://127.0.0.1:6443');
    await expect(kubeconfigAccess(path, 'nope')).rejects.toThrow(/context "nope" not found/);
  });
});
