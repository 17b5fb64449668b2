import { describe, expect, it } from 'vitest';
import { OciError } from './errors.ts';
import { formatImageRef, parseImageRef } from './image-ref.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageRef', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
    ['nginx:1.27', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
    ['acme/api:v1', { registry: 'docker.io', repository: 'acme/api', tag: 'v1' }],
    ['docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx' }],
    ['index.docker.io/acme/api', { registry: 'docker.io', repository: 'acme/api' }],
    [
      'ghcr.io/org/team/app:1.0.0-rc.1',
      { registry: 'ghcr.io', repository: 'org/team/app', tag: '1.0.0-rc.1' },
    ],
    ['registry:5000/ns/app:tag', { registry: 'registry:5000', repository: 'ns/app', tag: 'tag' }],
    [
      `registry:5000/ns/app:tag@${D}`,
      { registry: 'registry:5000', repository: 'ns/app', tag: 'tag', digest: D },
    ],
    [`registry:5000/ns/app@${D}`, { registry: 'registry:5000', repository: 'ns/app', digest: D }],
    ['localhost/app', { registry: 'localhost', repository: 'app' }],
    ['localhost:5000/app:latest', { registry: 'localhost:5000', repository: 'app', tag: 'latest' }],
    ['127.0.0.1:41234/a/b', { registry: '127.0.0.1:41234', repository: 'a/b' }],
    ['[::1]:5000/app:v2', { registry: '[::1]:5000', repository: 'app', tag: 'v2' }],
    ['Registry/app', { registry: 'Registry', repository: 'app' }],
    ['my-org/my_app__x.y', { registry: 'docker.io', repository: 'my-org/my_app__x.y' }],
  ])('%s', (input, expected) => {
    expect(parseImageRef(input)).toEqual(expected);
  });

  it.each([
    '',
    'UPPER',
    'acme/Api',
    'app:',
    'app:-bad',
    `app:${'x'.repeat(129)}`,
    'app@sha256:abc',
    `app@sha256:${'A'.repeat(64)}`,
    'a//b',
    'a/b/',
    'registry:5000/',
    'bad_host_:5000/app',
  ])('rejects %j', (input) => {
    expect(() => parseImageRef(input)).toThrow(OciError);
    try {
      parseImageRef(input);
    } catch (err) {
      expect((err as OciError).code).toBe('oci.invalid-reference');
      expect((err as OciError).disposition).toBe('stall');
    }
  });

  it('round-trips through formatImageRef', () => {
    const ref = parseImageRef(`registry:5000/ns/app:v1@${D}`);
    expect(formatImageRef(ref)).toBe(`registry:5000/ns/app:v1@${D}`);
    expect(formatImageRef(parseImageRef('nginx'))).toBe('docker.io/library/nginx');
  });
});
