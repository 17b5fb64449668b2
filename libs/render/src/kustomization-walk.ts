import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { type ManifestLimits, parseManifests } from '@flotilla/manifests';
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  parseDocument,
  type YAMLMap,
} from 'yaml';
import { remoteReason } from './remote-reference.ts';
import { refuse } from './render-problem.ts';
import {
  breathe,
  type RepoScope,
  readCounted,
  repoRelative,
  resolveReference,
  type Site,
} from './repo-files.ts';

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/**
 * Every top-level field of a kustomize v5 Kustomization (api/types/kustomization.go). A field
 * outside this list is refused rather than ignored: the walker must know every field that can
 * name a file, so nothing reaches the renderer unchecked.
 */
const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'openapi',
  'namePrefix',
  'nameSuffix',
  'namespace',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'patchesStrategicMerge',
  'patchesJson6902',
  'patches',
  'images',
  'imageTags',
  'replacements',
  'replicas',
  'vars',
  'sortOptions',
  'resources',
  'components',
  'crds',
  'bases',
  'configMapGenerator',
  'secretGenerator',
  'helmGlobals',
  'helmCharts',
  'helmChartInflationGenerator',
  'generatorOptions',
  'configurations',
  'generators',
  'transformers',
  'validators',
  'buildMetadata',
]);

const HELM_FIELDS = ['helmCharts', 'helmGlobals', 'helmChartInflationGenerator'];

/** Annotations that turn a config object into an exec or container KRM function. */
const FUNCTION_ANNOTATIONS = ['config.kubernetes.io/function', 'config.k8s.io/function'];

/** YAML-level problems that count for files that are not whole objects (patches, plugin configs). */
const YAML_LEVEL = new Set([
  'manifest.yaml-syntax',
  'manifest.duplicate-key',
  'manifest.alias-bomb',
  'manifest.too-large',
  'manifest.too-many-documents',
]);

export interface KustomizationWalk {
  /** Real paths of every file the renderer will read (kustomizations and what they name). */
  inputs: string[];
  /** sha256 over the repo-relative path and bytes of every input: equal digests, equal output. */
  inputDigest: string;
  /** Kustomizations loaded, counted once per path through the graph (what kustomize will do). */
  loads: number;
}

interface Walker {
  scope: RepoScope;
  limits: Partial<ManifestLimits> | undefined;
  /** Real path → sha256 of the bytes read. */
  inputs: Map<string, string>;
  /** Per kustomization directory: how many files and loads its subtree costs, once checked. */
  cost: Map<string, number>;
  loads: number;
}

/**
 * Checks the kustomization in `dir` and everything it reaches, before any renderer runs. Every
 * field that names a path is resolved inside the repo; remote forms, absolute paths, escaping
 * paths and symlinks, exec/KRM function plugins, Helm, unknown fields, cycles and oversized
 * files are refused with the file and line that name them. Diamonds are cheap to check (each
 * directory is parsed once) but are charged to the file budget once per path, because kustomize
 * renders a base again for every path that reaches it.
 */
export async function walkKustomization(
  scope: RepoScope,
  dir: string,
  limits?: Partial<ManifestLimits>,
): Promise<KustomizationWalk> {
  const w: Walker = { scope, limits, inputs: new Map(), cost: new Map(), loads: 0 };
  await visit(w, dir, [], { file: repoRelative(scope.rootReal, dir) });
  const inputs = [...w.inputs.keys()].sort();
  const hash = createHash('sha256');
  for (const f of inputs) hash.update(`${repoRelative(scope.rootReal, f)}\0${w.inputs.get(f)}\n`);
  return { inputs, inputDigest: `sha256:${hash.digest('hex')}`, loads: w.loads };
}

function kustomizationFileIn(w: Walker, dir: string): string | null {
  const found = KUSTOMIZATION_FILES.filter((name) => lstatSync(join(dir, name), { throwIfNoEntry: false }));
  if (found.length > 1)
    refuse(
      repoRelative(w.scope.rootReal, dir),
      'render.kustomization-invalid',
      `found more than one kustomization file (${found.join(', ')}); keep one`,
    );
  return found[0] ?? null;
}

async function visit(w: Walker, dir: string, stack: string[], site: Site): Promise<void> {
  await breathe();
  const { meter, rootReal } = w.scope;
  if (stack.includes(dir))
    refuse(
      site.file,
      'render.kustomization-cycle',
      `kustomization cycle: ${[...stack.slice(stack.indexOf(dir)), dir].map((d) => repoRelative(rootReal, d)).join(' → ')}`,
      site.line,
      site.column,
    );
  const known = w.cost.get(dir);
  if (known !== undefined) {
    // A diamond: already checked, but kustomize will load the whole subtree again.
    meter.files += known - 1;
    w.loads++;
    meter.countFile(site.file, site.line, site.column);
    return;
  }
  const before = meter.files;
  w.loads++;
  const name = kustomizationFileIn(w, dir);
  if (name === null)
    refuse(
      site.file,
      'render.path-missing',
      `${repoRelative(rootReal, dir)} is a directory without a kustomization`,
      site.line,
      site.column,
    );
  const ref = resolveReference(w.scope, dir, name, 'kustomization', site);
  if (ref.kind !== 'file')
    refuse(repoRelative(rootReal, join(dir, name)), 'render.kustomization-invalid', 'not a file');
  const file = repoRelative(rootReal, join(dir, name));
  const text = read(w, ref.real, ref.size, site);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const at = (node: unknown): Site => {
    const range = (node as Node | null | undefined)?.range;
    const pos = lc.linePos(range?.[0] ?? 0);
    return { file, line: pos.line, column: pos.col };
  };
  const err = doc.errors[0];
  if (err) {
    const pos = lc.linePos(err.pos[0]);
    refuse(
      file,
      'render.kustomization-invalid',
      err.message.split('\n')[0] ?? err.message,
      pos.line,
      pos.col,
    );
  }
  const top = doc.contents;
  if (!isMap(top)) refuse(file, 'render.kustomization-invalid', 'a kustomization must be a mapping', 1, 1);
  for (const pair of top.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const s = at(pair.key);
    if (HELM_FIELDS.includes(key))
      refuse(
        file,
        'render.helm-refused',
        `${key}: Helm inflation is not enabled; commit the chart's rendered output`,
        s.line,
        s.column,
      );
    if (!KNOWN_FIELDS.has(key))
      refuse(
        file,
        'render.kustomization-unknown-field',
        `unknown kustomization field "${key}"`,
        s.line,
        s.column,
      );
  }
  const inner = [...stack, dir];
  const list = (field: string): Array<{ value: string; node: Node }> => {
    const seq = top.get(field, true);
    if (seq === undefined || seq === null) return [];
    if (!isSeq(seq)) {
      const s = at(seq);
      return refuse(file, 'render.kustomization-invalid', `${field} must be a list`, s.line, s.column);
    }
    return seq.items.map((item) => {
      if (!isScalar(item) || typeof item.value !== 'string') {
        const s = at(item);
        return refuse(
          file,
          'render.kustomization-invalid',
          `${field} entries must be strings`,
          s.line,
          s.column,
        );
      }
      return { value: item.value, node: item as Node };
    });
  };
  const maps = (field: string): YAMLMap[] => {
    const seq = top.get(field, true);
    if (seq === undefined || seq === null) return [];
    if (!isSeq(seq)) {
      const s = at(seq);
      return refuse(file, 'render.kustomization-invalid', `${field} must be a list`, s.line, s.column);
    }
    return seq.items.map((item) => {
      if (!isMap(item)) {
        const s = at(item);
        return refuse(
          file,
          'render.kustomization-invalid',
          `${field} entries must be mappings`,
          s.line,
          s.column,
        );
      }
      return item;
    });
  };
  const pathOf = (m: YAMLMap, key: string, field: string): { value: string; node: Node } | null => {
    const v = m.get(key, true);
    if (v === undefined || v === null) return null;
    if (!isScalar(v) || typeof v.value !== 'string') {
      const s = at(v);
      return refuse(
        file,
        'render.kustomization-invalid',
        `${field}.${key} must be a string`,
        s.line,
        s.column,
      );
    }
    return { value: v.value, node: v as Node };
  };

  // Resources and bases: files of objects, or directories holding a kustomization.
  for (const field of ['resources', 'bases']) {
    for (const { value, node } of list(field)) {
      const s = at(node);
      const r = resolveReference(w.scope, dir, value, field, s);
      if (r.kind === 'dir') await visit(w, r.real, inner, s);
      else await checkObjectsFile(w, r.real, r.size, s, 'objects');
    }
  }
  for (const { value, node } of list('components')) {
    const s = at(node);
    const r = resolveReference(w.scope, dir, value, 'components', s);
    if (r.kind !== 'dir')
      refuse(
        file,
        'render.kustomization-invalid',
        `components "${value}" must be a directory`,
        s.line,
        s.column,
      );
    await visit(w, r.real, inner, s);
  }
  // Plain data files kustomize reads as they are.
  for (const field of ['crds', 'configurations']) {
    for (const { value, node } of list(field)) await plainFile(w, dir, value, field, at(node));
  }
  // Plugin configs: plain files (or inline YAML) of builtin kinds only; no exec or KRM functions.
  for (const field of ['generators', 'transformers', 'validators']) {
    for (const { value, node } of list(field)) {
      const s = at(node);
      if (isInline(value)) {
        checkPluginConfigs(value, field, s, true);
        continue;
      }
      const r = resolveReference(w.scope, dir, value, field, s);
      if (r.kind !== 'file')
        refuse(
          file,
          'render.plugin',
          `${field} "${value}" is a directory; only plain files of builtin plugin configs are rendered`,
          s.line,
          s.column,
        );
      const text = read(w, r.real, r.size, s);
      checkPluginConfigs(text, field, { file: repoRelative(rootReal, r.real) }, false);
    }
  }
  for (const { value, node } of list('patchesStrategicMerge')) {
    if (isInline(value)) continue;
    const s = at(node);
    const r = resolveReference(w.scope, dir, value, 'patchesStrategicMerge', s);
    if (r.kind !== 'file')
      refuse(
        file,
        'render.kustomization-invalid',
        `patchesStrategicMerge "${value}" must be a file`,
        s.line,
        s.column,
      );
    await checkObjectsFile(w, r.real, r.size, s, 'patch');
  }
  for (const field of ['patches', 'patchesJson6902']) {
    for (const m of maps(field)) {
      const p = pathOf(m, 'path', field);
      if (!p) continue;
      const s = at(p.node);
      const r = resolveReference(w.scope, dir, p.value, `${field}.path`, s);
      if (r.kind !== 'file')
        refuse(
          file,
          'render.kustomization-invalid',
          `${field}.path "${p.value}" must be a file`,
          s.line,
          s.column,
        );
      await checkObjectsFile(w, r.real, r.size, s, 'patch');
    }
  }
  for (const field of ['replacements']) {
    for (const m of maps(field)) {
      const p = pathOf(m, 'path', field);
      if (p) await plainFile(w, dir, p.value, `${field}.path`, at(p.node));
    }
  }
  const openapi = top.get('openapi', true);
  if (openapi !== undefined && openapi !== null) {
    if (!isMap(openapi)) {
      const s = at(openapi);
      refuse(file, 'render.kustomization-invalid', 'openapi must be a mapping', s.line, s.column);
    }
    const p = pathOf(openapi, 'path', 'openapi');
    if (p) await plainFile(w, dir, p.value, 'openapi.path', at(p.node));
  }
  for (const field of ['configMapGenerator', 'secretGenerator']) {
    for (const gen of maps(field)) {
      for (const key of ['files', 'envs', 'env']) {
        const v = gen.get(key, true);
        if (v === undefined || v === null) continue;
        const items = isSeq(v) ? v.items : [v];
        for (const item of items) {
          if (!isScalar(item) || typeof item.value !== 'string') {
            const s = at(item);
            refuse(
              file,
              'render.kustomization-invalid',
              `${field}.${key} entries must be strings`,
              s.line,
              s.column,
            );
          }
          // `files` entries may be `key=path`; the whole entry must not look remote either.
          const whole = remoteReason(item.value);
          if (whole) {
            const s = at(item);
            refuse(
              file,
              'render.remote-reference',
              `${field}.${key} "${item.value}" is ${whole}; only paths inside the config repo are rendered`,
              s.line,
              s.column,
            );
          }
          const value =
            key === 'files' && item.value.includes('=')
              ? item.value.split('=').slice(1).join('=')
              : item.value;
          await plainFile(w, dir, value, `${field}.${key}`, at(item));
        }
      }
    }
  }
  w.cost.set(dir, meter.files - before);
}

async function plainFile(w: Walker, dir: string, value: string, field: string, s: Site): Promise<void> {
  const r = resolveReference(w.scope, dir, value, field, s);
  if (r.kind !== 'file')
    refuse(s.file, 'render.kustomization-invalid', `${field} "${value}" must be a file`, s.line, s.column);
  read(w, r.real, r.size, s);
}

/** Reads an input through the budgets and remembers its digest. */
function read(w: Walker, real: string, size: number, s: Site): string {
  const { text, digest } = readCounted(w.scope, real, size, s);
  w.inputs.set(real, digest);
  return text;
}

/** Resource and patch files: read by size first, parsed with the safe parser, function configs refused. */
async function checkObjectsFile(
  w: Walker,
  real: string,
  size: number,
  s: Site,
  as: 'objects' | 'patch',
): Promise<void> {
  const file = repoRelative(w.scope.rootReal, real);
  const text = read(w, real, size, s);
  await breathe();
  // kustomize parses a resource file of any name as YAML; only YAML and JSON are checked here.
  if (!/\.(ya?ml|json)$/i.test(real)) return;
  const parsed = parseManifests(text, { file, ...(w.limits ? { limits: w.limits } : {}) });
  // Patches are partial objects: only YAML-level problems count for them.
  const first = parsed.errors.find((e) => as === 'objects' || YAML_LEVEL.has(e.code));
  if (first) refuse(file, first.code, first.message, first.line, first.column);
  for (const o of parsed.objects) {
    const annotations = o.object.metadata?.annotations ?? {};
    for (const a of FUNCTION_ANNOTATIONS) {
      if (a in annotations)
        refuse(
          file,
          'render.plugin',
          `${o.object.kind} ${o.object.metadata?.name ?? ''} carries the ${a} annotation (a KRM function); functions are never run`,
          o.source.line,
          o.source.column,
        );
    }
  }
}

/** An entry of a plugin list written as YAML in place, not a path. */
function isInline(value: string): boolean {
  const v = value.trimStart();
  return value.includes('\n') || v.startsWith('{') || /^[A-Za-z]+:\s/.test(v);
}

/**
 * Plugin configs may only name kustomize's builtin plugins (`apiVersion: builtin`); anything
 * else is an external exec, Go or KRM function plugin and is refused with the document's line.
 */
function checkPluginConfigs(text: string, field: string, s: Site, inline: boolean): void {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const list: Document[] = Array.isArray(docs) ? docs : [];
  const where = (node: unknown) => {
    if (inline) return { line: s.line, column: s.column };
    const pos = lc.linePos((node as Node | null | undefined)?.range?.[0] ?? 0);
    return { line: pos.line, column: pos.col };
  };
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const pos = inline ? { line: s.line, col: s.column } : lc.linePos(err.pos[0]);
      refuse(s.file, 'manifest.yaml-syntax', err.message.split('\n')[0] ?? err.message, pos.line, pos.col);
    }
    const top = doc.contents;
    if (top === null) continue;
    const p = where(top);
    if (!isMap(top))
      refuse(s.file, 'render.plugin', `${field}: a plugin config must be a mapping`, p.line, p.column);
    const apiVersion = top.get('apiVersion');
    const kind = String(top.get('kind') ?? '');
    const annotations = top.getIn(['metadata', 'annotations']);
    for (const a of FUNCTION_ANNOTATIONS) {
      if (isMap(annotations) && annotations.has(a))
        refuse(
          s.file,
          'render.plugin',
          `${field}: ${kind} is a KRM function (${a}); functions are never run`,
          p.line,
          p.column,
        );
    }
    if (apiVersion !== 'builtin')
      refuse(
        s.file,
        'render.plugin',
        `${field}: ${kind || 'config'} (apiVersion ${String(apiVersion)}) is an external plugin; only kustomize's builtin plugins (apiVersion: builtin) are rendered`,
        p.line,
        p.column,
      );
    if (/^Helm/i.test(kind))
      refuse(
        s.file,
        'render.helm-refused',
        `${field}: ${kind}: Helm inflation is not enabled`,
        p.line,
        p.column,
      );
  }
}
