import { readFileSync } from 'node:fs';
import { type KubeObject, parseManifests } from '@flotilla/manifests';

/** Loads a single-object YAML fixture relative to `base` (the calling test's module URL). */
export function loadObject(base: string, path: string): KubeObject {
  const text = readFileSync(new URL(path, base), 'utf8');
  const result = parseManifests(text, { file: path });
  if (!result.ok || result.objects.length !== 1) {
    throw new Error(
      `fixture ${path}: ${result.errors.map((e) => e.format()).join('; ') || 'expected exactly one object'}`,
    );
  }
  return result.objects[0]!.object;
}
