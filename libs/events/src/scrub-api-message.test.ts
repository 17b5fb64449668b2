import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nameIndexedPath, REDACTED_VALUE, scrubApiMessage } from './index.ts';

// Message shapes as k8s.io/apimachinery prints them: field.Error is `<path>: <Type>: <value>:
// <detail>` (value `%q` for strings, `%v` for numbers, `%#v` otherwise), and a StatusError for
// several field errors is `<Kind> "<name>" is invalid: [<err>, <err>]`.
describe('scrubApiMessage', () => {
  it.each([
    [
      'a Secret data key (the key can be the value)',
      "Secret \"db\" is invalid: data[pass word]: Invalid value: \"pass word\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
      "Secret \"db\" is invalid: data[[REDACTED]]: Invalid value: [REDACTED]: a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    ],
    [
      'a Secret annotation (can hold the last-applied data)',
      'Secret "db" is invalid: metadata.annotations: Too long: "{\\"data\\":{\\"password\\":\\"czNjcjN0\\"}}": must have at most 262144 bytes',
      'Secret "db" is invalid: metadata.annotations: Too long: [REDACTED]: must have at most 262144 bytes',
    ],
    [
      'several errors in one StatusError, quotes escaped inside the value',
      'Secret "db" is invalid: [data[a b]: Invalid value: "s3\\"cr3t": must be valid, stringData[x y]: Duplicate value: "x y"]',
      'Secret "db" is invalid: [data[a b]: Invalid value: [REDACTED]: must be valid, stringData[[REDACTED]]: Duplicate value: [REDACTED]]',
    ],
    [
      'a Go literal value (%#v)',
      'data[k]: Invalid value: []byte{0x73, 0x33, 0x63}: bad',
      'data[k]: Invalid value: [REDACTED]: bad',
    ],
  ])('redacts %s', (_, message, want) => {
    const got = scrubApiMessage(message, 'Secret shop/db');
    expect(got).toBe(want);
    expect(got).not.toMatch(/s3|czNjcjN0|pass word|x y|0x73/);
  });

  it('redacts the refused Secret key from the path too, as a real apiserver words it', () => {
    // Verbatim from the test kube-apiserver (services/cluster-applier/test/apply.test.ts).
    const real =
      "dry-run apply Secret leak-c1e1e3/db: invalid: Secret \"db\" is invalid: data[s3cr3t 4c2a3e!]: Invalid value: \"s3cr3t 4c2a3e!\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
    const got = scrubApiMessage(real, 'Secret leak-c1e1e3/db');
    expect(got).toBe(
      "dry-run apply Secret leak-c1e1e3/db: invalid: Secret \"db\" is invalid: data[[REDACTED]]: Invalid value: [REDACTED]: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
  });

  it("keeps a Secret's type, its supported values and its labels: they are not secret", () => {
    const m =
      'Secret "db" is invalid: [type: Unsupported value: "kubernetes.io/tlss": supported values: "Opaque", "kubernetes.io/tls", metadata.labels: Invalid value: "a b": name part must consist of alphanumeric characters]';
    expect(scrubApiMessage(m, 'Secret shop/db')).toBe(m);
  });

  it('redacts credential-named fields of any object, keeps the rest', () => {
    expect(
      scrubApiMessage(
        'ConfigMap "cfg" is invalid: [data[api-token]: Invalid value: "tok-123": bad, data[log level]: Invalid value: "log level": a valid config key]',
        'ConfigMap shop/cfg',
      ),
    ).toBe(
      `ConfigMap "cfg" is invalid: [data[api-token]: Invalid value: ${REDACTED_VALUE}: bad, data[log level]: Invalid value: "log level": a valid config key]`,
    );
    const deploy =
      'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0';
    expect(scrubApiMessage(deploy, 'apps/Deployment shop/web')).toBe(deploy);
  });

  it('with no object (or no readable path), treats every value as a Secret would', () => {
    expect(scrubApiMessage('apply Secret shop/db: invalid: data[k]: Invalid value: "s3cr3t": bad')).toBe(
      'apply Secret shop/db: invalid: data[k]: Invalid value: [REDACTED]: bad',
    );
    expect(scrubApiMessage('refused: Invalid value: "s3cr3t": bad', 'Secret shop/db')).toBe(
      'refused: Invalid value: [REDACTED]: bad',
    );
    expect(scrubApiMessage('Invalid value: "v"', 'ConfigMap shop/cfg')).toBe('Invalid value: "v"');
  });

  it('leaves messages without field errors, and value-less types, alone', () => {
    for (const m of [
      'apiserver answered 503: etcdserver: request timed out',
      'Secret "db" is invalid: data: Required value',
      'Secret "db" is invalid: data: Forbidden: may not be changed',
    ])
      expect(scrubApiMessage(m, 'Secret shop/db')).toBe(m);
  });

  it('finds the field error after a long run of path characters', () => {
    const long = `${'a'.repeat(200_000)}: Invalid value: "s3cr3t": bad`;
    expect(scrubApiMessage(long, 'Secret shop/db').endsWith(`: Invalid value: ${REDACTED_VALUE}: bad`)).toBe(
      true,
    );
  });
});

// Env vars addressed by index: only the manifest says `env[2]` is DB_PASSWORD (#15).
describe('scrubApiMessage with the manifest: env vars by index', () => {
  const fixture = (name: string) =>
    JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8'));
  const deployment = fixture('deployment-env.json');
  const messages = fixture('env-messages.json') as {
    object: string;
    cases: Array<{ message: string; secrets: string[]; kept: string[] }>;
  };

  it.each(messages.cases.map((c, i) => [i, c] as const))(
    'case %i: credential-named env values are redacted, others kept',
    (_, c) => {
      const got = scrubApiMessage(c.message, messages.object, deployment);
      for (const s of c.secrets) expect(got).not.toContain(s);
      for (const k of c.kept) expect(got).toContain(k);
      if (c.secrets.length > 0) expect(got).toContain(REDACTED_VALUE);
    },
  );

  it('without the manifest, an env value addressed by index is redacted (its name is unknown)', () => {
    const m =
      'Deployment.apps "web" is invalid: spec.template.spec.containers[0].env[1].value: Invalid value: "eu-west-1": bad';
    expect(scrubApiMessage(m, 'apps/Deployment shop/web')).toBe(
      `Deployment.apps "web" is invalid: spec.template.spec.containers[0].env[1].value: Invalid value: ${REDACTED_VALUE}: bad`,
    );
  });

  it('nameIndexedPath names list items from the manifest and leaves what it cannot resolve', () => {
    expect(nameIndexedPath(deployment, 'spec.template.spec.containers[0].env[2].value')).toBe(
      'spec.template.spec.containers[name=web].env[name=DB_PASSWORD].value',
    );
    expect(nameIndexedPath(deployment, 'spec.template.spec.containers[0].env[9].value')).toBe(
      'spec.template.spec.containers[name=web].env[9].value',
    );
    expect(nameIndexedPath(deployment, 'metadata.labels[app]')).toBe('metadata.labels[app]');
  });
});
