import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OciError } from './errors.ts';
import { formatImageRef, isValidDigest, isValidRepository, isValidTag, parseImageRef } from './image-ref.ts';
import {
  NEXUS_COMPONENT_WEBHOOK,
  parseRegistryWebhook,
  type RegistryPushEvent,
  registryWebhookShapeError,
  type WebhookSource,
} from './webhooks.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

// Everything here parses text an outsider controls (config, registry headers, webhook bodies):
// the only failure allowed is the documented one, never a crash of another kind.

const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/, { maxLength: 20 });
const host = fc.oneof(
  fc.constantFrom('localhost', 'localhost:5000', '127.0.0.1:41234', '[::1]:5000', 'docker.io', 'Registry'),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), fc.constantFrom('.io', '.example.com'))
    .map(([a, b]) => a + b),
);
const tag = fc.stringMatching(/^[\w][\w.-]{0,30}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);
const validRef = fc
  .record(
    {
      host,
      path: fc.array(component, { minLength: 1, maxLength: 3 }),
      tag,
      digest,
    },
    { requiredKeys: ['host', 'path'] },
  )
  .map(
    ({ host: h, path, tag: t, digest: d }) =>
      `${h}/${path.join('/')}${t !== undefined ? `:${t}` : ''}${d !== undefined ? `@${d}` : ''}`,
  );

describe('parseImageRef properties', () => {
  it('arbitrary text either parses to a valid reference or fails with oci.invalid-reference (stall)', () => {
    const refish = fc
      .array(
        fc.constantFrom('a', 'B', '0', '.', '_', '-', '/', ':', '@', 'sha256:', 'localhost', ' ', '[', ']'),
        {
          maxLength: 30,
        },
      )
      .map((p) => p.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), refish), (input) => {
        let ref: ReturnType<typeof parseImageRef>;
        try {
          ref = parseImageRef(input);
        } catch (err) {
          expect(err).toBeInstanceOf(OciError);
          expect((err as OciError).code).toBe('oci.invalid-reference');
          expect((err as OciError).disposition).toBe('stall');
          return;
        }
        expect(isValidRepository(ref.repository)).toBe(true);
        if (ref.tag !== undefined) expect(isValidTag(ref.tag)).toBe(true);
        if (ref.digest !== undefined) expect(isValidDigest(ref.digest)).toBe(true);
        // The canonical form is a fixed point: parsing it gives the same reference.
        expect(parseImageRef(formatImageRef(ref))).toEqual(ref);
      }),
      { numRuns: 1000 },
    );
  });

  it('every well-formed reference parses, keeps its tag and digest, and round-trips', () => {
    fc.assert(
      fc.property(validRef, (input) => {
        const ref = parseImageRef(input);
        const at = input.indexOf('@');
        if (at >= 0) expect(ref.digest).toBe(input.slice(at + 1));
        expect(parseImageRef(formatImageRef(ref))).toEqual(ref);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseWwwAuthenticate properties', () => {
  it('never throws on arbitrary headers; schemes and parameter names come back lower-case', () => {
    const headerish = fc
      .array(fc.constantFrom('Bearer', 'Basic', ' ', ',', '=', '"', '\\', 'realm', 'x', '\t'), {
        maxLength: 40,
      })
      .map((p) => p.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), headerish), (header) => {
        const challenges = parseWwwAuthenticate(header);
        for (const c of challenges) {
          expect(c.scheme).toBe(c.scheme.toLowerCase());
          expect(c.scheme).not.toBe('');
          for (const k of Object.keys(c.params)) expect(k).toBe(k.toLowerCase());
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('reads back what a server writes: several challenges, quoted values with escapes', () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
    const challenge = fc.record({
      scheme: fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,9}$/),
      params: fc.dictionary(token, fc.string({ maxLength: 30 }), { minKeys: 1, maxKeys: 4 }),
    });
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (challenges) => {
        const quote = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
        const header = challenges
          .map(
            (c) =>
              `${c.scheme} ${Object.entries(c.params)
                .map(([k, v]) => `${k}=${quote(v)}`)
                .join(', ')}`,
          )
          .join(', ');
        expect(parseWwwAuthenticate(header)).toEqual(
          challenges.map((c) => ({ scheme: c.scheme.toLowerCase(), params: { ...c.params } })),
        );
      }),
      { numRuns: 500 },
    );
  });
});

describe('registry webhook payload properties', () => {
  const sources: WebhookSource[] = [
    'distribution',
    'dockerhub',
    'harbor',
    'quay',
    'acr',
    'nexus',
    'ghcr',
    'artifactory',
  ];
  // Nexus reads nothing without the component hook's id, GHCR without a package event; the other
  // parsers ignore them.
  const headers = { 'x-nexus-webhook-id': NEXUS_COMPONENT_WEBHOOK, 'x-github-event': 'package' };
  const wellTyped = (events: RegistryPushEvent[]) => {
    for (const e of events) {
      expect(typeof e.repository).toBe('string');
      expect(e.repository).not.toBe('');
      for (const v of Object.values(e)) expect(typeof v).toBe('string');
    }
  };
  // Payload-shaped noise: the keys each parser looks for, holding arbitrary JSON.
  const keys = [
    'events',
    'action',
    'target',
    'repository',
    'mediaType',
    'tag',
    'digest',
    'request',
    'host',
    'url',
    'push_data',
    'repo_name',
    'namespace',
    'name',
    'pushed_at',
    'specversion',
    'type',
    'data',
    'event_data',
    'resources',
    'resource_url',
    'repo_full_name',
    'occur_at',
    'updated_tags',
    'docker_url',
    'repositoryName',
    'component',
    'format',
    'version',
    'timestamp',
    'package',
    'package_type',
    'package_version',
    'container_metadata',
    'package_url',
    'owner',
    'login',
    'domain',
    'event_type',
    'repo_key',
    'image_name',
    'path',
    'sha256',
  ];
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 1 }),
      fc.constantFrom(
        'push',
        'PUSH_ARTIFACT',
        'harbor.artifact.pushed',
        '1.0',
        'application/vnd.oci.image.manifest.v1+json',
        'CREATED',
        'DELETED',
        'docker',
        'published',
        'CONTAINER',
        'ghcr.io/acme/api:',
        'pushed',
        'a/b/1.0/manifest.json',
      ),
      fc.array(tie('tree'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...keys), tie('tree'), { maxKeys: 6 }),
    ),
  }));

  it('ignores a Harbor occur_at outside the date range instead of throwing', () => {
    const body = {
      type: 'PUSH_ARTIFACT',
      occur_at: -8640000000000.001,
      event_data: {
        resources: [{ tag: '1.0.0', digest: `sha256:${'a'.repeat(64)}` }],
        repository: { repo_full_name: 'shop/web' },
      },
    };
    const events = parseRegistryWebhook('harbor', body);
    expect(events).toHaveLength(1);
    expect(events[0]?.timestamp).toBeUndefined();
  });

  it('never throw on arbitrary JSON values, parsed or as bytes; every event names a repository', () => {
    fc.assert(
      fc.property(fc.constantFrom(...sources), fc.oneof(tree, fc.jsonValue()), (source, body) => {
        // A top-level string is text by contract (the next property); anything else is parsed JSON.
        if (typeof body !== 'string') wellTyped(parseRegistryWebhook(source, body, headers));
        wellTyped(parseRegistryWebhook(source, Buffer.from(JSON.stringify(body) ?? 'null'), headers));
        // The receiver asks for the shape of every JSON object before parsing it: that must not throw.
        if (body && typeof body === 'object' && !Array.isArray(body)) {
          const problem = registryWebhookShapeError(source, body as Record<string, unknown>, headers);
          expect(problem === undefined || typeof problem === 'string').toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('text that is not JSON fails only with a SyntaxError (the receiver answers 400 malformed)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...sources), fc.string({ maxLength: 60 }), (source, text) => {
        let ok = true;
        try {
          JSON.parse(text);
        } catch {
          ok = false;
        }
        if (ok) {
          wellTyped(parseRegistryWebhook(source, text, headers));
        } else {
          expect(() => parseRegistryWebhook(source, text, headers)).toThrow(SyntaxError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
