import { isErrorCode } from '@flotilla/errors';
import { describe, expect, it } from 'vitest';
import { describeManifest, registryBaseUrl } from './client.ts';
import {
  codeForRegistryCode,
  codeForStatus,
  dispositionForCode,
  OCI_ERROR_CODES,
  OciError,
  parseErrorBody,
} from './errors.ts';

describe('registryBaseUrl', () => {
  it('uses https by default, http for loopback, Docker Hub API host for docker.io', () => {
    expect(registryBaseUrl('ghcr.io').href).toBe('https://ghcr.io/');
    expect(registryBaseUrl('127.0.0.1:5000').href).toBe('http://127.0.0.1:5000/');
    expect(registryBaseUrl('localhost:5000').href).toBe('http://localhost:5000/');
    expect(registryBaseUrl('docker.io').href).toBe('https://registry-1.docker.io/');
    expect(registryBaseUrl(new URL('http://127.0.0.1:1234/ignored')).href).toBe('http://127.0.0.1:1234/');
    expect(registryBaseUrl('registry.lan:5000', true).href).toBe('http://registry.lan:5000/');
  });
  it('refuses plain http to a remote host unless insecure', () => {
    expect(() => registryBaseUrl('http://registry.lan:5000')).toThrow(OciError);
    expect(registryBaseUrl('http://registry.lan:5000', true).protocol).toBe('http:');
  });
});

describe('errors', () => {
  it("names every code in the tree's one scheme, oci.<kebab-case>", () => {
    expect(OCI_ERROR_CODES.length).toBeGreaterThan(10);
    expect(OCI_ERROR_CODES.filter((c) => !isErrorCode(c) || !c.startsWith('oci.'))).toEqual([]);
  });
  it('gives each of our codes a disposition; an unknown code counts as transient', () => {
    expect(dispositionForCode('oci.unauthorized')).toBe('stall');
    expect(dispositionForCode('oci.denied')).toBe('stall');
    expect(dispositionForCode('oci.name-unknown')).toBe('wait');
    expect(dispositionForCode('oci.manifest-unknown')).toBe('wait');
    expect(dispositionForCode('oci.too-many-requests')).toBe('wait');
    expect(dispositionForCode('oci.unavailable')).toBe('retry');
    expect(dispositionForCode('oci.network')).toBe('retry');
    // A registry's own code is not ours: it gets no disposition of its own.
    expect(dispositionForCode('DENIED')).toBe('retry');
    expect(dispositionForCode('__proto__')).toBe('retry');
  });
  it('maps the distribution-spec codes a registry answers with to ours, and nothing else', () => {
    expect(codeForRegistryCode('MANIFEST_UNKNOWN')).toBe('oci.manifest-unknown');
    expect(codeForRegistryCode('NAME_UNKNOWN')).toBe('oci.name-unknown');
    expect(codeForRegistryCode('DENIED')).toBe('oci.denied');
    expect(codeForRegistryCode('TOOMANYREQUESTS')).toBe('oci.too-many-requests');
    expect(codeForRegistryCode('HARBOR_SPECIAL')).toBeUndefined();
    expect(codeForRegistryCode('constructor')).toBeUndefined();
  });
  it('reads the error body and falls back to the status', () => {
    expect(parseErrorBody('{"errors":[{"code":"DENIED","message":"no","detail":null}]}')).toEqual({
      code: 'DENIED',
      message: 'no',
    });
    expect(parseErrorBody(JSON.stringify({ errors: [{ code: 'X'.repeat(500) }] }))?.code).toHaveLength(64);
    expect(parseErrorBody('<html>')).toBeUndefined();
    expect(codeForStatus(404, 'tags')).toBe('oci.name-unknown');
    expect(codeForStatus(404, 'manifest')).toBe('oci.manifest-unknown');
    expect(codeForStatus(404, 'blob')).toBe('oci.blob-unknown');
    expect(codeForStatus(429)).toBe('oci.too-many-requests');
    expect(codeForStatus(503)).toBe('oci.unavailable');
    const err = new OciError('oci.denied', 'x', { details: { status: 403, registryCode: 'DENIED' } });
    expect(err.status).toBe(403);
    expect(err.disposition).toBe('stall');
    expect(err.toJSON()).toMatchObject({ code: 'oci.denied', details: { registryCode: 'DENIED' } });
  });
});

describe('describeManifest', () => {
  const meta = { digest: `sha256:${'b'.repeat(64)}`, size: 10 };
  it('lists platforms of an index without attestation entries', () => {
    const r = describeManifest(
      {
        schemaVersion: 2,
        manifests: [
          { mediaType: 'm', digest: 'sha256:1', size: 1, platform: { os: 'linux', architecture: 'amd64' } },
          {
            mediaType: 'm',
            digest: 'sha256:2',
            size: 1,
            platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
          },
          {
            mediaType: 'm',
            digest: 'sha256:3',
            size: 1,
            platform: { os: 'unknown', architecture: 'unknown' },
          },
        ],
      },
      { ...meta, mediaType: 'application/vnd.oci.image.index.v1+json' },
    );
    expect(r.kind).toBe('index');
    expect(r.platforms).toEqual([
      { os: 'linux', architecture: 'amd64', digest: 'sha256:1' },
      { os: 'linux', architecture: 'arm', variant: 'v7', digest: 'sha256:2' },
    ]);
  });
  it('exposes config and layers of an image manifest', () => {
    const r = describeManifest(
      {
        schemaVersion: 2,
        config: { mediaType: 'c', digest: 'sha256:c', size: 2 },
        layers: [{ digest: 'sha256:l' }],
      },
      { ...meta, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    );
    expect(r.kind).toBe('image');
    expect(r.config?.digest).toBe('sha256:c');
    expect(r.layers).toEqual([{ mediaType: '', digest: 'sha256:l', size: 0 }]);
  });
});
