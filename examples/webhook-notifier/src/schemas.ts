import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under ESM its default export may arrive wrapped in `.default`.
type AddFormats = (ajv: Ajv2020) => unknown;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

/** Where the published schemas live in this repository; point SCHEMAS_DIR elsewhere in your own project. */
export const DEFAULT_SCHEMAS_DIR = resolve(import.meta.dirname, '../../../libs/events/schemas');

export interface EventSchemas {
  /** CloudEvents `type` → validator of the whole envelope (data included). */
  validators: Map<string, ValidateFunction>;
  /** Schema title (e.g. `ApplySucceeded`) → CloudEvents type. */
  typesByName: Map<string, string>;
}

/**
 * Loads every `io.flotilla.*.json` JSON Schema (draft 2020-12) and compiles it. Nothing from
 * Flotilla's TypeScript code is needed: the schemas are the contract.
 */
export function loadSchemas(dir = DEFAULT_SCHEMAS_DIR): EventSchemas {
  // Default strict mode: the schemas use only standard keywords (subjects and producers live in
  // catalog.json); `format` needs ajv-formats, as with any JSON Schema validator.
  const ajv = new Ajv2020({ allErrors: false });
  addFormats(ajv);
  const validators = new Map<string, ValidateFunction>();
  const typesByName = new Map<string, string>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      title?: string;
      properties?: { type?: { const?: string } };
    };
    const type = schema.properties?.type?.const;
    if (!type) continue;
    validators.set(type, ajv.compile(schema));
    if (schema.title) typesByName.set(schema.title, type);
  }
  if (validators.size === 0) throw new Error(`no event schemas found in ${dir}`);
  return { validators, typesByName };
}

/** `ApplySucceeded` or `io.flotilla.apply.succeeded.v1` → the CloudEvents type. */
export function resolveType(schemas: EventSchemas, nameOrType: string): string {
  const type = schemas.validators.has(nameOrType) ? nameOrType : schemas.typesByName.get(nameOrType);
  if (!type)
    throw new Error(`unknown event "${nameOrType}"; known: ${[...schemas.typesByName.keys()].join(', ')}`);
  return type;
}

/** `io.flotilla.apply.succeeded.v1` → `flotilla.v1.apply.succeeded.*` (the NATS subject filter). */
export function subjectFilterFor(type: string): string {
  const m = /^io\.flotilla\.([a-z-]+)\.([a-z-]+)\.v1$/.exec(type);
  if (!m) throw new Error(`unexpected event type ${type}`);
  return `flotilla.v1.${m[1]}.${m[2]}.*`;
}
