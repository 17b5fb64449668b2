import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  formatRef,
  isSafeRepoPath,
  type KubeObject,
  type ManifestLimits,
  parseManifests,
  refKey,
} from '@flotilla/manifests';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

/** Why a cluster could not be rendered, precise enough to fix it: repo-relative file and line. */
export interface RenderProblem {
  file: string;
  line?: number;
  column?: number;
  code: string;
  message: string;
}

export type RenderResult =
  | { ok: true; mode: 'plain' | 'kustomize'; objects: KubeObject[]; inputDigest?: string }
  | { ok: false; problem: RenderProblem };

/** What a cluster's render reads, hashed: equal digests mean equal output, so kubectl can be skipped. */
export interface RenderCache {
  get(key: string): { inputDigest: string; objects: KubeObject[] } | undefined;
  set(key: string, value: { inputDigest: string; objects: KubeObject[] }): void;
}

export interface RenderOptions {
  /** kubectl binary used for `kubectl kustomize`. */
  kubectl?: string;
  limits?: Partial<ManifestLimits>;
  timeoutMs?: number;
  /** Remembers kustomize output by the digest of every file the kustomization reads. */
  cache?: RenderCache;
  /** Cache key, e.g. the cluster name. */
  cacheKey?: string;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const YAML_FILE = /\.ya?ml$/i;

/**
 * Renders one cluster's directory of a checked-out revision (`root`): a kustomization via
 * `kubectl kustomize` when the directory has one, else every `*.yaml`/`*.yml` below it, sorted.
 * Everything goes through the safe manifest parser (limits, alias bombs, duplicates). Paths
 * that leave the checkout (`..`, absolute, symlinks pointing out) and remote kustomize bases are
 * refused before kubectl ever runs, so a hostile repo cannot read the planner's files or network.
 */
export async function renderCluster(
  root: string,
  path: string,
  opts: RenderOptions = {},
): Promise<RenderResult> {
  try {
    const rootReal = await realpath(root);
    if (!isSafeRepoPath(path)) {
      return fail(path, 'render.path-traversal', `cluster path "${path}" must stay inside the config repo`);
    }
    const dir = resolve(rootReal, path);
    const info = await stat(dir).catch(() => null);
    if (!info?.isDirectory()) {
      return fail(path, 'render.path-missing', `cluster path "${path}" is not a directory at this revision`);
    }
    const escaped = await escapes(rootReal, dir);
    if (escaped)
      return fail(path, 'render.path-traversal', `cluster path "${path}" resolves outside the repo`);
    for (const name of KUSTOMIZATION_FILES) {
      if (await exists(join(dir, name))) return await renderKustomization(rootReal, dir, name, opts);
    }
    return await renderPlain(rootReal, dir, opts);
  } catch (err) {
    if (err instanceof RenderFailure) return { ok: false, problem: err.problem };
    throw err;
  }
}

class RenderFailure extends Error {
  constructor(readonly problem: RenderProblem) {
    super(problem.message);
  }
}

function fail(file: string, code: string, message: string, line?: number, column?: number): RenderResult {
  return { ok: false, problem: problem(file, code, message, line, column) };
}

function problem(file: string, code: string, message: string, line?: number, column?: number): RenderProblem {
  const p: RenderProblem = { file, code, message };
  if (line !== undefined) p.line = line;
  if (column !== undefined) p.column = column;
  return p;
}

async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => null)) !== null;
}

/** True when `p` (after following symlinks) is outside `rootReal`. */
async function escapes(rootReal: string, p: string): Promise<boolean> {
  const real = await realpath(p).catch(() => null);
  if (real === null) return false;
  return real !== rootReal && !real.startsWith(rootReal + sep);
}

const rel = (rootReal: string, p: string) => relative(rootReal, p).split(sep).join('/');

async function listYamlFiles(rootReal: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(d, e.name);
      if (e.isSymbolicLink() && (await escapes(rootReal, full))) {
        throw new RenderFailure(
          problem(
            rel(rootReal, full),
            'render.path-traversal',
            'symbolic link points outside the config repo',
          ),
        );
      }
      const s = await stat(full).catch(() => null);
      if (s?.isDirectory()) {
        if (!e.name.startsWith('.')) await walk(full);
      } else if (s?.isFile() && YAML_FILE.test(e.name)) out.push(full);
    }
  };
  await walk(dir);
  return out;
}

async function renderPlain(rootReal: string, dir: string, opts: RenderOptions): Promise<RenderResult> {
  const objects: KubeObject[] = [];
  const seen = new Map<string, string>();
  for (const full of await listYamlFiles(rootReal, dir)) {
    const file = rel(rootReal, full);
    const result = parseManifests(await readFile(full, 'utf8'), {
      file,
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    const first = result.errors[0];
    if (first) return fail(file, first.code, first.message, first.line, first.column);
    for (const o of result.objects) {
      const key = refKey(o.ref);
      const prev = seen.get(key);
      if (prev) {
        return fail(
          file,
          'manifest.duplicate-object',
          `duplicate object ${formatRef(o.ref)}: first defined in ${prev}`,
          o.source.line,
          o.source.column,
        );
      }
      seen.set(key, `${file}:${o.source.line}`);
      objects.push(o.object);
    }
  }
  return { ok: true, mode: 'plain', objects };
}

// Fields of a Kustomization that name files or directories.
const PATH_LISTS = [
  'resources',
  'bases',
  'components',
  'crds',
  'configurations',
  'generators',
  'transformers',
  'validators',
  'patchesStrategicMerge',
];
const DIR_LISTS = new Set(['resources', 'bases', 'components']);
const REMOTE = /^([a-z][a-z0-9+.-]*:\/\/|git@|github\.com\/|gitlab\.com\/|bitbucket\.org\/)|\?ref=|\/\/.*\?/i;

async function renderKustomization(
  rootReal: string,
  dir: string,
  fileName: string,
  opts: RenderOptions,
): Promise<RenderResult> {
  const inputs = new Set<string>();
  await checkKustomization(rootReal, dir, fileName, new Set(), opts, inputs);
  const clusterPath = rel(rootReal, dir);
  const inputDigest = await digestInputs(rootReal, inputs);
  const key = opts.cacheKey ?? clusterPath;
  const cached = opts.cache?.get(key);
  if (cached && cached.inputDigest === inputDigest) {
    return { ok: true, mode: 'kustomize', objects: cached.objects, inputDigest };
  }
  const { stdout, stderr, code } = await run(opts.kubectl ?? 'kubectl', ['kustomize', dir], {
    cwd: rootReal,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  if (code !== 0) {
    const raw = /err="(.*)"\s*$/s.exec(stderr.trim())?.[1] ?? stderr.trim();
    const message = raw.replaceAll(rootReal + sep, '').replaceAll(rootReal, '.');
    const line = /line (\d+)/.exec(message)?.[1];
    const inFile = /in File: (\S+)/.exec(message)?.[1];
    const file = inFile ? `${clusterPath}/${inFile}` : `${clusterPath}/${fileName}`;
    return fail(
      file,
      'render.kustomize-failed',
      `kubectl kustomize failed: ${message}`,
      line ? Number(line) : undefined,
    );
  }
  const result = parseManifests(stdout, {
    file: `${clusterPath} (kustomize build)`,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const first = result.errors[0];
  if (first) return fail(first.file ?? clusterPath, first.code, first.message, first.line, first.column);
  const objects = result.objects.map((o) => o.object);
  opts.cache?.set(key, { inputDigest, objects });
  return { ok: true, mode: 'kustomize', objects, inputDigest };
}

/**
 * Reads a kustomization and every local kustomization it pulls in, with file and line for each
 * problem: YAML errors, remote bases, paths that leave the repo, broken resource files.
 */
async function checkKustomization(
  rootReal: string,
  dir: string,
  fileName: string,
  visited: Set<string>,
  opts: RenderOptions,
  inputs: Set<string>,
): Promise<void> {
  if (visited.has(dir)) return;
  visited.add(dir);
  inputs.add(dir);
  const file = rel(rootReal, join(dir, fileName));
  const text = await readFile(join(dir, fileName), 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const at = (node: Node | null | undefined) => {
    const pos = lc.linePos(node?.range?.[0] ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const err = doc.errors[0];
  if (err) {
    const pos = lc.linePos(err.pos[0]);
    throw new RenderFailure(
      problem(
        file,
        'render.kustomization-invalid',
        err.message.split('\n')[0] ?? err.message,
        pos.line,
        pos.col,
      ),
    );
  }
  const top = doc.contents;
  if (!isMap(top)) {
    throw new RenderFailure(
      problem(file, 'render.kustomization-invalid', 'a kustomization must be a mapping', 1, 1),
    );
  }
  if (top.has('helmCharts') || top.has('helmChartInflationGenerator')) {
    const { line, column } = at(top.get('helmCharts', true) as Node);
    throw new RenderFailure(
      problem(
        file,
        'render.kustomization-unsupported',
        'helm charts are not rendered; commit the chart output',
        line,
        column,
      ),
    );
  }
  const entries: Array<{ field: string; value: string; node: Node }> = [];
  for (const field of PATH_LISTS) {
    const seq = top.get(field, true);
    if (seq === undefined) continue;
    if (!isSeq(seq)) {
      const { line, column } = at(seq as Node);
      throw new RenderFailure(
        problem(file, 'render.kustomization-invalid', `${field} must be a list`, line, column),
      );
    }
    for (const item of seq.items) {
      if (isScalar(item) && typeof item.value === 'string')
        entries.push({ field, value: item.value, node: item });
    }
  }
  for (const field of ['patches', 'patchesJson6902']) {
    const seq = top.get(field, true);
    if (!isSeq(seq)) continue;
    for (const item of seq.items) {
      if (!isMap(item)) continue;
      const p = item.get('path', true);
      if (isScalar(p) && typeof p.value === 'string') entries.push({ field, value: p.value, node: p });
    }
  }
  for (const field of ['configMapGenerator', 'secretGenerator']) {
    const seq = top.get(field, true);
    if (!isSeq(seq)) continue;
    for (const gen of seq.items) {
      if (!isMap(gen)) continue;
      for (const key of ['files', 'envs', 'env']) {
        const v = gen.get(key, true);
        const items = isSeq(v) ? v.items : [v];
        for (const item of items) {
          if (isScalar(item) && typeof item.value === 'string') {
            // `files` entries may be `key=path`.
            const value =
              key === 'files' && item.value.includes('=')
                ? item.value.split('=').slice(1).join('=')
                : item.value;
            entries.push({ field: key, value, node: item });
          }
        }
      }
    }
  }
  for (const { field, value, node } of entries) {
    const { line, column } = at(node);
    // Inline patches (strategic merge as a YAML string) are not paths.
    if (field === 'patchesStrategicMerge' && value.includes('\n')) continue;
    if (REMOTE.test(value)) {
      throw new RenderFailure(
        problem(
          file,
          'render.remote-base',
          `${field} "${value}" is remote; only paths inside the config repo are rendered`,
          line,
          column,
        ),
      );
    }
    const target = resolve(dir, value);
    if (
      isAbsolute(value) ||
      (target !== rootReal && !target.startsWith(rootReal + sep)) ||
      (await escapes(rootReal, target))
    ) {
      throw new RenderFailure(
        problem(file, 'render.path-traversal', `${field} "${value}" leaves the config repo`, line, column),
      );
    }
    const s = await stat(target).catch(() => null);
    if (s?.isFile()) inputs.add(target);
    if (!s) {
      throw new RenderFailure(
        problem(file, 'render.path-missing', `${field} "${value}" does not exist`, line, column),
      );
    }
    if (s.isDirectory() && DIR_LISTS.has(field)) {
      let found = false;
      for (const name of KUSTOMIZATION_FILES) {
        if (await exists(join(target, name))) {
          await checkKustomization(rootReal, target, name, visited, opts, inputs);
          found = true;
          break;
        }
      }
      if (!found) {
        throw new RenderFailure(
          problem(
            file,
            'render.path-missing',
            `${field} "${value}" is a directory without a kustomization`,
            line,
            column,
          ),
        );
      }
    } else if (
      s.isFile() &&
      YAML_FILE.test(value) &&
      (field === 'resources' || field === 'patches' || field === 'patchesStrategicMerge')
    ) {
      const resourceFile = rel(rootReal, target);
      const parsed = parseManifests(await readFile(target, 'utf8'), {
        file: resourceFile,
        ...(opts.limits ? { limits: opts.limits } : {}),
      });
      // Patches are partial objects: only YAML-level problems count for them.
      const first = parsed.errors.find(
        (e) =>
          field === 'resources' ||
          [
            'manifest.yaml-syntax',
            'manifest.duplicate-key',
            'manifest.alias-bomb',
            'manifest.too-large',
          ].includes(e.code),
      );
      if (first)
        throw new RenderFailure(problem(resourceFile, first.code, first.message, first.line, first.column));
    }
  }
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; timeoutMs: number },
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs,
        maxBuffer: 512 * 1024 * 1024,
        // No kubeconfig or cluster is needed to build; keep kubectl off the network.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.cwd, KUBECONFIG: '/dev/null' },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolvePromise({ stdout: String(stdout), stderr: String(stderr) || (err?.message ?? ''), code });
      },
    );
  });
}

/** sha256 over path + content of every input file (directories: every file below them). */
async function digestInputs(rootReal: string, inputs: Set<string>): Promise<string> {
  const files = new Set<string>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      // Symlinks are hashed by target, never followed (a link to /dev/zero must not hang us).
      if (e.isDirectory()) await walk(full);
      else if (e.isFile() || e.isSymbolicLink()) files.add(full);
    }
  };
  for (const p of inputs) {
    const s = await lstat(p).catch(() => null);
    if (s?.isDirectory()) await walk(p);
    else if (s?.isFile() || s?.isSymbolicLink()) files.add(p);
  }
  const hash = createHash('sha256');
  for (const f of [...files].sort()) {
    hash.update(`${rel(rootReal, f)}\0`);
    const link = await readlink(f).catch(() => null);
    hash.update(link !== null ? `link:${link}` : await readFile(f).catch(() => Buffer.alloc(0)));
    hash.update('\0');
  }
  return `sha256:${hash.digest('hex')}`;
}
