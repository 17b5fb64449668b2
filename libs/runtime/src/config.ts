import { readFileSync } from 'node:fs';
import { FlotillaError } from '@flotilla/errors';
import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { registerSecret } from './secrets.ts';

export class ConfigError extends FlotillaError {
  constructor(readonly problems: string[]) {
    super('config.invalid', `invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      disposition: 'stall',
    });
    this.name = 'ConfigError';
  }
}

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** `nats.url` → `FLOTILLA_NATS_URL`: every leaf of the schema can be set from the environment. */
export function envName(path: string[], prefix = 'FLOTILLA'): string {
  return [prefix, ...path.map(snake)].join('_');
}

function leaves(schema: TSchema, path: string[] = []): Array<{ path: string[]; schema: TSchema }> {
  if (schema[Kind] === 'Object' && (schema as TObject).properties) {
    return Object.entries((schema as TObject).properties).flatMap(([k, s]) => leaves(s, [...path, k]));
  }
  return [{ path, schema }];
}

function fromEnv(raw: string, schema: TSchema, name: string): unknown {
  const kind = schema[Kind];
  if (kind === 'Number' || kind === 'Integer') {
    const n = Number(raw);
    if (Number.isNaN(n)) throw new ConfigError([`${name}: "${raw}" is not a number`]);
    return n;
  }
  if (kind === 'Boolean') return raw === 'true' || raw === '1';
  if (kind === 'Array' && schema.items?.[Kind] === 'String' && !raw.trimStart().startsWith('['))
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (kind === 'Array' || kind === 'Object' || kind === 'Record') {
    try {
      return JSON.parse(raw);
    } catch {
      throw new ConfigError([`${name}: expected JSON`]);
    }
  }
  return raw;
}

/** Creates missing nested objects so their leaves' defaults apply (Value.Default does not). */
function withObjects(schema: TSchema, value: unknown): unknown {
  if (schema[Kind] !== 'Object' || !(schema as TObject).properties) return value;
  const out: Record<string, unknown> = value && typeof value === 'object' ? { ...(value as object) } : {};
  for (const [k, s] of Object.entries((schema as TObject).properties)) {
    const required = (schema as TObject).required?.includes(k) ?? false;
    if (s[Kind] === 'Object' && (out[k] !== undefined || required)) out[k] = withObjects(s, out[k]);
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(target: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (n, k) => (n && typeof n === 'object' ? (n as Record<string, unknown>)[k] : undefined),
    target,
  );
}

/**
 * An old key (`LoadConfigOptions.renamed`) in the file or the environment is refused, naming the
 * new one: left alone it would be ignored like any unknown key and the new key's default used
 * silently (a `leader.mode: sharded` quietly running single).
 */
function renamedKeys(
  schema: TObject,
  renamed: Readonly<Record<string, string>>,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  file: string | undefined,
): string[] {
  const known = new Set(leaves(schema).map((l) => envName(l.path)));
  const problems: string[] = [];
  for (const [old, now] of Object.entries(renamed)) {
    const oldPath = old.split('.');
    const oldEnv = envName(oldPath);
    const inEnv = Object.keys(env).filter(
      (k) => !known.has(k) && env[k] !== undefined && (k === oldEnv || k.startsWith(`${oldEnv}_`)),
    );
    const inFile = file !== undefined && getPath(config, oldPath) !== undefined;
    const nowEnv = envName(now.split('.'));
    if (inFile || inEnv.length > 0)
      problems.push(
        `${old} (${[...inEnv, ...(inFile ? [file] : [])].join(', ')}) was renamed ${now} (${nowEnv}${known.has(nowEnv) ? '' : '_…'}): rename it`,
      );
  }
  return problems;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Config file (YAML or JSON); defaults to $FLOTILLA_CONFIG. Environment variables win over it. */
  file?: string;
  /** Keys the service renamed, old dotted path → new (`{ leader: 'lease' }`): an old one is refused. */
  renamed?: Readonly<Record<string, string>>;
}

/**
 * Loads config from a file and the environment, applies schema defaults and validates.
 * Problems name the field and where it came from, so a bad deploy says what to fix.
 * Leaves marked `{ secret: true }` in the schema are registered for log scrubbing.
 */
export function loadConfig<S extends TObject>(schema: S, opts: LoadConfigOptions = {}): Static<S> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.FLOTILLA_CONFIG;
  let config: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
    }
    try {
      config = (parseYaml(text, { maxAliasCount: 50 }) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError([`config file ${file}: ${(err as Error).message}`]);
    }
  }
  const renamed = renamedKeys(schema, opts.renamed ?? {}, config, env, file);
  if (renamed.length > 0) throw new ConfigError(renamed);
  for (const leaf of leaves(schema)) {
    const name = envName(leaf.path);
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(config, leaf.path, fromEnv(raw, leaf.schema, name));
  }
  const withDefaults = Value.Default(schema, withObjects(schema, config)) as Record<string, unknown>;
  const problems = [...Value.Errors(schema, withDefaults)].slice(0, 20).map((e) => {
    const path = e.path.split('/').filter(Boolean);
    const where =
      path.length > 0 ? `${path.join('.')} (${envName(path)}${file ? ` or ${file}` : ''})` : 'config';
    return `${where}: ${e.message}${e.value === undefined ? ' (missing)' : ''}`;
  });
  if (problems.length > 0) throw new ConfigError(problems);
  for (const leaf of leaves(schema)) {
    if ((leaf.schema as { secret?: boolean }).secret) {
      const v = getPath(withDefaults, leaf.path);
      if (typeof v === 'string') registerSecret(v);
    }
  }
  return withDefaults as Static<S>;
}

/** A secret given inline or as a file path (Kubernetes Secret volumes); file wins. */
export function readSecret(value: string | undefined, file: string | undefined): string | undefined {
  const secret = file ? readFileSync(file, 'utf8').trim() : value;
  if (secret) registerSecret(secret);
  return secret;
}
