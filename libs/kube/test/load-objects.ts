import { readFileSync } from 'node:fs';
import { type KubeObject, parseManifests } from '@flotilla/manifests';

/** Loads a multi-document YAML fixture relative to `base` (the calling test's module URL). */
export function loadObjects(base: string, path: string): KubeObject[] {
  const text = readFileSync(new URL(path, base), 'utf8');
  const result = parseManifests(text, { file: path });
  if (!result.ok) throw new Error(`fixture ${path}: ${result.errors.map((e) => e.format()).join('; ')}`);
  return result.objects.map((o) => o.object);
}
