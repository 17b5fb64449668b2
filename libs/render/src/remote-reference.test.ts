import { describe, expect, it } from 'vitest';
import { isRemoteReference, remoteReason } from './remote-reference.ts';

describe('remoteReason', () => {
  // Every remote form kustomize understands (api/internal/git/repospec.go) plus go-getter.
  const remote = [
    'https://github.com/org/repo//base?ref=v1',
    'http://example.com/manifest.yaml',
    'HTTPS://EXAMPLE.COM/x',
    'ssh://git@github.com/org/repo.git',
    'file:///etc',
    'git::https://github.com/org/repo',
    'git::ssh://git@host/org/repo',
    'git::file:///srv/git/other',
    'git::/abs/path',
    's3::https://bucket/x',
    'github.com:org/repo',
    'gh:org/repo',
    'git@github.com:org/repo',
    'user@host:path/to/repo',
    'user@host/path',
    'github.com/org/repo',
    'github.com/org/repo/base',
    'gitlab.com/org/repo//x',
    'bitbucket.org/org/repo',
    'dev.azure.com/org/project/_git/repo',
    'host.example/org/repo.git//base',
    'host.example/org/repo.git',
    'org/_git/repo',
    '../base?ref=main',
    'base?version=v2',
    'C:\\Windows',
  ];
  for (const v of remote) {
    it(`refuses ${v}`, () => {
      expect(remoteReason(v)).toEqual(expect.any(String));
    });
  }

  const local = [
    'base',
    '../base',
    '../../apps/web',
    './deployment.yaml',
    'apps.v2/web',
    'my.github.com.notes/readme.yaml',
    'patches/set-image.yaml',
    '.hidden/x.yaml',
    'a-b_c/d.e.yaml',
  ];
  for (const v of local) {
    it(`accepts ${v}`, () => {
      expect(isRemoteReference(v)).toBe(false);
    });
  }
});
