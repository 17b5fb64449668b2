import { lstat, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import {
  formatRef,
  isSafeRepoPath,
  type KubeObject,
  type ManifestLimits,
  parseManifests,
  refKey,
} from '@flotilla/manifests';
import { BudgetMeter, formatBytes, type RenderBudgets, resolveBudgets } from './budgets.ts';
import { KUSTOMIZATION_FILES, walkKustomization } from './kustomization-walk.ts';
import { type KustomizeRenderer, kustomizeArgs, resolveKustomizeRenderer } from './kustomize-renderer.ts';
import { listPlainYaml } from './plain-walk.ts';
import { RenderFailure, type RenderProblem, refuse } from './render-problem.ts';
import { isInside, type RepoScope, readCounted, repoRelative } from './repo-files.ts';
import { type Isolation, runSandboxed } from './sandbox.ts';

export type RenderResult =
  | {
      ok: true;
      mode: 'plain' | 'kustomize';
      objects: KubeObject[];
      inputDigest?: string;
      /**
       * Repo-relative files the output was made from (a kustomization's inputs, or every YAML
       * file of a plain directory): a change to none of them cannot change the output.
       */
      inputs: string[];
      /** What the render cost, for logs and benchmarks. */
      stats: RenderStats;
    }
  | { ok: false; problem: RenderProblem; stats: RenderStats };

export interface RenderStats {
  files: number;
  bytes: number;
  ms: number;
  /** Peak resident memory of the renderer child, when one ran. */
  rendererPeakRssBytes?: number;
  isolation?: Isolation;
  /** Which program built the kustomization, when one ran. */
  renderer?: KustomizeRenderer['kind'];
  cached?: boolean;
}

/** What a cluster's render reads, hashed: equal digests mean equal output, so the renderer can be skipped. */
export interface RenderCache {
  get(key: string): { inputDigest: string; objects: KubeObject[] } | undefined;
  set(key: string, value: { inputDigest: string; objects: KubeObject[] }): void;
}

export interface RenderOptions {
  /** kubectl binary used for `kubectl kustomize`, looked up on the caller's PATH. */
  kubectl?: string;
  /**
   * What builds a kustomization: `auto` (default: flotilla-kustomize when built, else kubectl),
   * `kubectl`, or the path of a flotilla-kustomize binary. See {@link resolveKustomizeRenderer}.
   */
  kustomize?: string;
  limits?: Partial<ManifestLimits>;
  budgets?: Partial<RenderBudgets>;
  /** Remembers kustomize output by the digest of every file the kustomization reads. */
  cache?: RenderCache;
  /** Cache key, e.g. the cluster name. */
  cacheKey?: string;
  /** `proxy` forces the no-namespace fallback (tests of it); default `auto`. */
  isolation?: 'auto' | 'proxy';
}

/**
 * Renders one cluster's directory of a checked-out revision (`root`), treating the tree as
 * hostile. A kustomization is walked in full (every field that names a path; remote forms,
 * plugins, Helm, absolute and escaping paths and symlinks refused with file and line) and built
 * by flotilla-kustomize (or `kubectl kustomize`) in the sandbox (scrubbed environment, empty
 * HOME, no network, no helpers on PATH, killed past its time, memory or output budget). The two run side by side:
 * the sandbox makes the build harmless by construction, and its output is used only when the
 * walk accepts the tree. A directory without a kustomization is every `*.yaml`/`*.yml` below
 * it, sorted. Either way the output goes through the safe manifest parser and the object
 * budget. Never throws for bad input.
 */
export async function renderCluster(
  root: string,
  path: string,
  opts: RenderOptions = {},
): Promise<RenderResult> {
  const started = performance.now();
  const meter = new BudgetMeter(resolveBudgets(opts.budgets));
  const stats = (extra: Partial<RenderStats> = {}): RenderStats => ({
    files: meter.files,
    bytes: meter.bytes,
    ms: Math.round(performance.now() - started),
    ...extra,
  });
  const extra: Partial<RenderStats> = {};
  try {
    const rootReal = await realpath(root);
    const scope: RepoScope = { rootReal, meter };
    if (!isSafeRepoPath(path))
      refuse(path, 'render.path-traversal', `cluster path "${path}" must stay inside the config repo`);
    const lexical = resolve(rootReal, path);
    const dir = await realpath(lexical).catch(() => null);
    if (dir === null || !(await stat(dir)).isDirectory())
      refuse(path, 'render.path-missing', `cluster path "${path}" is not a directory at this revision`);
    if (!isInside(rootReal, dir))
      refuse(path, 'render.path-traversal', `cluster path "${path}" resolves outside the repo`);
    for (const name of KUSTOMIZATION_FILES) {
      if ((await lstat(join(dir, name)).catch(() => null)) !== null) {
        const r = await renderKustomization(scope, dir, name, opts, extra);
        return { ...r, stats: stats(extra) };
      }
    }
    return { ...(await renderPlain(scope, dir, opts)), stats: stats() };
  } catch (err) {
    if (err instanceof RenderFailure) return { ok: false, problem: err.problem, stats: stats(extra) };
    throw err;
  }
}

async function renderPlain(scope: RepoScope, dir: string, opts: RenderOptions) {
  const objects: KubeObject[] = [];
  const seen = new Map<string, string>();
  const inputs: string[] = [];
  for (const f of await listPlainYaml(scope, dir)) {
    inputs.push(f.file);
    const { text } = readCounted(scope, f.real, f.size);
    const result = parseManifests(text, { file: f.file, ...(opts.limits ? { limits: opts.limits } : {}) });
    const first = result.errors[0];
    if (first) refuse(f.file, first.code, first.message, first.line, first.column);
    for (const o of result.objects) {
      const key = refKey(o.ref);
      const prev = seen.get(key);
      if (prev)
        refuse(
          f.file,
          'manifest.duplicate-object',
          `duplicate object ${formatRef(o.ref)}: first defined in ${prev}`,
          o.source.line,
          o.source.column,
        );
      seen.set(key, `${f.file}:${o.source.line}`);
      objects.push(o.object);
    }
    scope.meter.checkObjects(f.file, objects.length);
  }
  return { ok: true as const, mode: 'plain' as const, objects, inputs };
}

async function renderKustomization(
  scope: RepoScope,
  dir: string,
  fileName: string,
  opts: RenderOptions,
  extra: Partial<RenderStats>,
) {
  const { rootReal, meter } = scope;
  const clusterPath = repoRelative(rootReal, dir);
  const at = `${clusterPath}/${fileName}`;
  const key = opts.cacheKey ?? clusterPath;
  const cached = opts.cache?.get(key);
  const b = meter.budgets;
  // The renderer holds nothing and reaches nothing, so it may start while the walk runs: the
  // walk decides whether its output is used (a refusal kills it). Only with a cached result is
  // it worth waiting for the walk's digest, which may make the renderer unnecessary.
  const stop = new AbortController();
  const renderer = await resolveKustomizeRenderer(opts.kustomize, opts.kubectl);
  const name = renderer.kind === 'kubectl' ? 'kubectl kustomize' : renderer.kind;
  const build = () =>
    runSandboxed(renderer.path, kustomizeArgs(renderer, rootReal, dir), {
      timeoutMs: meter.remainingMs(),
      maxMemoryBytes: b.maxMemoryBytes,
      maxOutputBytes: b.maxOutputBytes,
      signal: stop.signal,
      ...(opts.isolation ? { isolation: opts.isolation } : {}),
    });
  const early = cached ? null : build();
  let walk: Awaited<ReturnType<typeof walkKustomization>>;
  try {
    walk = await walkKustomization(scope, dir, opts.limits);
  } catch (e) {
    stop.abort();
    await early?.catch(() => undefined);
    throw e;
  }
  const inputDigest = walk.inputDigest;
  const inputs = walk.inputs.map((f) => repoRelative(rootReal, f));
  if (cached && cached.inputDigest === inputDigest) {
    extra.cached = true;
    return { ok: true as const, mode: 'kustomize' as const, objects: cached.objects, inputDigest, inputs };
  }
  meter.checkTime(at);
  const run = await (early ?? build());
  extra.rendererPeakRssBytes = run.peakRssBytes;
  extra.isolation = run.isolation;
  extra.renderer = renderer.kind;
  if (run.exceeded === 'time')
    refuse(
      at,
      'render.budget-time',
      `render exceeded its wall-time budget of ${b.timeoutMs} ms; ${renderer.kind} was stopped`,
    );
  if (run.exceeded === 'memory')
    refuse(
      at,
      'render.budget-memory',
      `${name} used more than ${formatBytes(b.maxMemoryBytes)} of memory and was stopped`,
    );
  if (run.exceeded === 'output')
    refuse(at, 'render.budget-output', `${name} wrote more than ${formatBytes(b.maxOutputBytes)}`);
  if (run.code !== 0) {
    const stderr = run.stderr.trim();
    const raw = /err="(.*)"\s*$/s.exec(stderr)?.[1] ?? stderr;
    const message = raw.replaceAll(rootReal + sep, '').replaceAll(rootReal, '.');
    const line = /line (\d+)/.exec(message)?.[1];
    const inFile = /in File: (\S+)/.exec(message)?.[1];
    refuse(
      inFile ? `${clusterPath}/${inFile}` : at,
      'render.kustomize-failed',
      `${name} failed: ${message}`,
      line ? Number(line) : undefined,
    );
  }
  const result = parseManifests(run.stdout, {
    file: `${clusterPath} (kustomize build)`,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const first = result.errors[0];
  if (first) refuse(first.file ?? clusterPath, first.code, first.message, first.line, first.column);
  meter.checkObjects(at, result.objects.length);
  const objects = result.objects.map((o) => o.object);
  opts.cache?.set(key, { inputDigest, objects });
  return { ok: true as const, mode: 'kustomize' as const, objects, inputDigest, inputs };
}
