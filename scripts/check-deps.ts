/**
 * Fails when a package imports another package it does not declare in its own package.json, when
 * shipped code (a package's `src/`, less unit tests) imports a package declared only as a
 * devDependency (`npm ci --omit=dev`, as an image installs it, would leave it out), or when
 * shipped code imports @flotilla/test-support, or when a benchmark loads vitest through a test
 * helper it imports (benches run under tsx, outside vitest, where vitest's `expect` throws on load:
 * the planner and audit-writer benches broke this way twice).
 * npm hoists everything into the root node_modules, so an undeclared import works here and breaks
 * the day the package is installed, built or deployed on its own (a container image, a second
 * lockfile). The root's devDependencies are the shared toolchain (vitest, fast-check, …) and
 * count as declared everywhere; bench/, test/ and scripts/ belong to the root package.
 *
 *   node scripts/check-deps.ts
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  workspaces?: string[];
}

const root = join(import.meta.dirname, '..');
const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
const declared = (m: Manifest) =>
  new Set(
    [m.dependencies, m.devDependencies, m.peerDependencies, m.optionalDependencies].flatMap((d) =>
      Object.keys(d ?? {}),
    ),
  );

/** What a production install (`--omit=dev`) brings along. */
const runtimeDeclared = (m: Manifest) =>
  new Set([m.dependencies, m.peerDependencies, m.optionalDependencies].flatMap((d) => Object.keys(d ?? {})));

const rootManifest = readManifest(root);
const toolchain = new Set(Object.keys(rootManifest.devDependencies ?? {}));
const builtins = new Set(builtinModules);
const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;
const SKIP = new Set(['node_modules', 'dist', '.git', 'fixtures', 'schemas']);

/** Workspace directories, from the root's `workspaces` globs (only `dir/*` and plain dirs). */
function workspaces(): string[] {
  return (rootManifest.workspaces ?? []).flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [join(root, pattern)];
    const parent = join(root, pattern.slice(0, -2));
    return readdirSync(parent)
      .map((d) => join(parent, d))
      .filter((d) => statSync(join(d, 'package.json'), { throwIfNoEntry: false })?.isFile());
  });
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or null for relative/builtin. */
export function packageOf(spec: string): string | null {
  // Relative paths, node: builtins, and code-in-strings that merely looks like an import.
  if (!/^(@[\w.-]+\/)?[\w.-]+(\/[^\s]*)?$/.test(spec) || spec.startsWith('.')) return null;
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
  return builtins.has(name) ? null : name;
}

/**
 * Shipped code: a package's `src/`, less its unit tests. It may not import the test servers and
 * helpers (`rawNats` reaches past the bus's contract; a test hook in `src/` runs in production).
 */
const shipped = (dir: string, file: string) =>
  relative(dir, file).startsWith('src/') && !/\.test\.ts$/.test(file) && !dir.endsWith('test-support');

const problems: string[] = [];
function check(dir: string, files: string[], manifest: Manifest): void {
  const ok = declared(manifest);
  const atRuntime = runtimeDeclared(manifest);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const pkg = packageOf(m[1] ?? m[2] ?? m[3] ?? '');
      if (pkg === '@flotilla/test-support' && shipped(dir, file))
        problems.push(`${relative(root, file)}: shipped code imports @flotilla/test-support (tests only)`);
      if (pkg && ok.has(pkg) && !atRuntime.has(pkg) && dir !== root && shipped(dir, file))
        problems.push(
          `${relative(root, file)}: shipped code imports ${pkg}, declared only as a devDependency of ${relative(root, dir)}/package.json`,
        );
      if (!pkg || pkg === manifest.name || ok.has(pkg) || toolchain.has(pkg)) continue;
      problems.push(
        `${relative(root, file)}: imports ${pkg}, not declared in ${relative(root, dir) || '.'}/package.json`,
      );
    }
  }
}

for (const dir of workspaces()) check(dir, sourceFiles(dir), readManifest(dir));
check(
  root,
  ['bench', 'test', 'scripts'].flatMap((d) =>
    statSync(join(root, d), { throwIfNoEntry: false })?.isDirectory() ? sourceFiles(join(root, d)) : [],
  ),
  rootManifest,
);

/** Relative imports of a source file, resolved to files that exist. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)]
    .map((m) => m[1] ?? m[2] ?? m[3] ?? '')
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => resolve(dirname(file), spec))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
}

/** The chain of relative imports by which `entry` loads vitest, if it does. */
function vitestChain(entry: string): string[] | null {
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): string[] | null => {
    if (seen.has(file)) return null;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const pkg = packageOf(m[1] ?? m[2] ?? m[3] ?? '');
      if (pkg === 'vitest' && !/^\s*import\s+type\s/m.test(m[0])) return [...chain, file];
    }
    for (const next of relativeImports(file)) {
      const found = walk(next, [...chain, file]);
      if (found) return found;
    }
    return null;
  };
  return walk(entry, []);
}

const benchDir = join(root, 'bench');
if (statSync(benchDir, { throwIfNoEntry: false })?.isDirectory())
  for (const file of sourceFiles(benchDir).filter((f) => !/\.test\.ts$/.test(f))) {
    const chain = vitestChain(file);
    if (chain)
      problems.push(
        `${relative(root, file)}: loads vitest outside vitest (${chain.map((f) => relative(root, f)).join(' → ')}); move what the bench needs into a helper free of vitest`,
      );
  }

if (problems.length > 0) {
  console.error(`${problems.length} import problem(s):\n${[...new Set(problems)].join('\n')}`);
  process.exit(1);
}
console.log(
  'every import is declared by its package; shipped code imports only runtime dependencies, never test-support; no bench loads vitest',
);
