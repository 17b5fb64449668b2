import { Config as AuditWriterConfig } from '@flotilla/audit-writer';
import { Config as ClusterApplierConfig } from '@flotilla/cluster-applier';
import { Config as ConsoleConfig } from '@flotilla/console';
import { Config as GitWatcherConfig } from '@flotilla/git-watcher';
import { Config as PlannerConfig } from '@flotilla/planner';
import { Config as RegistryWatcherConfig } from '@flotilla/registry-watcher';
import { envName } from '@flotilla/runtime';
import { Kind, type TObject, type TSchema } from '@sinclair/typebox';

/** Each service's config schema, as the deploy files must match them. */
export const SERVICE_CONFIGS: Record<string, TObject> = {
  planner: PlannerConfig,
  'git-watcher': GitWatcherConfig,
  'registry-watcher': RegistryWatcherConfig,
  'audit-writer': AuditWriterConfig,
  'cluster-applier': ClusterApplierConfig,
  console: ConsoleConfig,
};

/** Variables loadConfig reads besides the schema's leaves. */
const RUNTIME_ENV = new Set(['FLOTILLA_CONFIG']);

function leaves(schema: TSchema, path: string[] = []): Array<{ path: string[]; schema: TSchema }> {
  if (schema[Kind] === 'Object' && (schema as TObject).properties)
    return Object.entries((schema as TObject).properties).flatMap(([k, s]) => leaves(s, [...path, k]));
  return [{ path, schema }];
}

/** Every FLOTILLA_* variable a service understands (envName of each schema leaf). */
export function validEnvNames(schema: TObject): Set<string> {
  return new Set([...RUNTIME_ENV, ...leaves(schema).map((l) => envName(l.path))]);
}

/** The schema default at a path, e.g. ['http', 'port']. */
export function schemaDefault(schema: TObject, path: string[]): unknown {
  let s: TSchema | undefined = schema;
  for (const k of path) s = (s as TObject | undefined)?.properties?.[k];
  return (s as { default?: unknown } | undefined)?.default;
}
