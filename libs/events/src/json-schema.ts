import { Type } from '@sinclair/typebox';
import { catalog } from './catalog/index.ts';
import { EnvelopeAttributes } from './envelope.ts';

/** One self-contained JSON Schema document per event type, for subscribers in any language. */
export function jsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const def of catalog) {
    const schema = Type.Object(
      { ...EnvelopeAttributes, type: Type.Literal(def.type), data: def.data },
      { $id: `https://flotilla.io/schemas/${def.type}.json`, title: def.name, description: def.description },
    );
    out[`${def.type}.json`] = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      ...JSON.parse(JSON.stringify(schema)),
      'x-flotilla-subject': `flotilla.v1.${def.domain}.${def.event}.<scope>`,
      'x-flotilla-producers': def.producers,
    };
  }
  return out;
}
