import type { Static, TObject } from '@sinclair/typebox';
import { buildSubject } from './subject.ts';

/** Services allowed to emit an event; `source` is `flotilla://<service>/<instance>`. */
export type Producer =
  | 'git-watcher'
  | 'registry-watcher'
  | 'planner'
  | 'cluster-applier'
  | 'audit-writer'
  | 'bus'
  | 'cli';

export interface EventDefinition<N extends string = string, S extends TObject = TObject> {
  /** PascalCase name used in code and docs, e.g. `PlanCreated`. */
  readonly name: N;
  /** CloudEvents type, e.g. `io.flotilla.plan.created.v1`. */
  readonly type: string;
  readonly domain: string;
  readonly event: string;
  readonly description: string;
  readonly data: S;
  readonly producers: readonly Producer[];
  /** The raw (unencoded) last subject token for a payload: cluster, repo, image, stage… */
  // Method syntax keeps this bivariant, so any definition is an `EventDefinition`.
  scope(data: Static<S>): string;
  /**
   * What the data may not carry that a JSON Schema cannot say (one field constraining another,
   * e.g. no value on a Secret's path), checked after the schema: answers the problems, empty when
   * the data is acceptable. A violation is `event.forbidden-content`, whose payload is never copied.
   */
  check?(data: Static<S>): string[];
}

export type DataOf<D> = D extends EventDefinition<string, infer S> ? Static<S> : never;

export function defineEvent<N extends string, S extends TObject>(def: {
  name: N;
  domain: string;
  event: string;
  description: string;
  data: S;
  producers: readonly Producer[];
  scope: (data: Static<S>) => string;
  check?: (data: Static<S>) => string[];
}): EventDefinition<N, S> {
  const type = `io.flotilla.${def.domain}.${def.event}.v1`;
  return Object.freeze({ ...def, type });
}

export function subjectOf<S extends TObject>(def: EventDefinition<string, S>, data: Static<S>): string {
  return buildSubject(def.domain, def.event, def.scope(data));
}

/** Filter for a consumer: one scope, or every scope of the event. */
export function subjectFilter(def: EventDefinition, scope?: string): string {
  return buildSubject(def.domain, def.event, scope ?? '*');
}
