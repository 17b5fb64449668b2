import { Type } from '@sinclair/typebox';
import { catalog } from './catalog/index.ts';
import { dataSchemaUri, EnvelopeAttributes, eventSchemaUri } from './envelope.ts';

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/** One line of `schemas/catalog.json`: what a subscriber in any language needs to find an event. */
export interface CatalogEntry {
  name: string;
  type: string;
  description: string;
  /** NATS subject pattern; `<scope>` is one percent-encoded token. */
  subject: string;
  producers: readonly string[];
  /** File (relative to the schemas directory) and URI of the whole-event schema. */
  schema: { file: string; id: string };
  /** File and URI of the data schema: the URI is the events' `dataschema`. */
  dataschema: { file: string; id: string };
}

const plain = (schema: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(schema));

/**
 * The published JSON Schemas (draft 2020-12), keyed by path under `schemas/`:
 * - `data/<type>.json`: the schema of `data` alone, the document an event's `dataschema` names
 *   (CloudEvents 1.0: "identifies the schema that data adheres to");
 * - `<type>.json`: the whole structured event, envelope and data, self-contained;
 * - `catalog.json`: subjects and producers of every type (kept out of the schemas, whose only
 *   keywords are standard ones, so validators in strict mode compile them as they are).
 */
export function jsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  const entries: CatalogEntry[] = [];
  for (const def of catalog) {
    const dataFile = `data/${def.type}.json`;
    const eventFile = `${def.type}.json`;
    out[dataFile] = {
      $schema: DRAFT,
      ...plain(def.data),
      $id: dataSchemaUri(def.type),
      title: `${def.name} data`,
      description: def.description,
    };
    const event = Type.Object({ ...EnvelopeAttributes, type: Type.Literal(def.type), data: def.data });
    out[eventFile] = {
      $schema: DRAFT,
      ...plain(event),
      $id: eventSchemaUri(def.type),
      title: def.name,
      description: def.description,
    };
    entries.push({
      name: def.name,
      type: def.type,
      description: def.description,
      subject: `flotilla.v1.${def.domain}.${def.event}.<scope>`,
      producers: def.producers,
      schema: { file: eventFile, id: eventSchemaUri(def.type) },
      dataschema: { file: dataFile, id: dataSchemaUri(def.type) },
    });
  }
  out['catalog.json'] = { events: entries };
  return out;
}
