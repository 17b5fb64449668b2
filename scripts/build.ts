// Builds what runs in production: one ES module per entry point (every service, the CLI, the
// audit verifier, the example subscriber) with the workspace's own TypeScript bundled in and
// third-party packages left as imports of node_modules, plus the console's page
// (services/console/dist/web). Plain `node <pkg>/dist/<entry>.js` runs
// it; services, the CLI, the demo, the tests and the images all use these files. Why a bundle
// and not tsx or Node's type stripping: docs/conventions.md ("Runtime") and bench/runtime/.
//
//   node scripts/build.ts            # build every entry (about a second)
//   node scripts/build.ts --check    # exit 1 when a dist file is missing or older than its sources
//
// The build never reads the network and writes each output atomically (temp file + rename), so a
// test run and a build in the same tree cannot see a half-written bundle.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { buildWeb, DEFAULT_ASSETS_DIR } from '../services/console/src/build-web.ts';

const root = resolve(import.meta.dirname, '..');

export interface Entry {
  /** TypeScript entry, relative to the repo root. */
  source: string;
  /** Output module, relative to the repo root. */
  out: string;
}

/** Every program Flotilla ships: services/<name>/src/main.ts plus the named extras. */
export function entries(): Entry[] {
  const list: Entry[] = [];
  for (const name of readdirSync(join(root, 'services')).sort()) {
    if (existsSync(join(root, 'services', name, 'src/main.ts')))
      list.push({ source: `services/${name}/src/main.ts`, out: `services/${name}/dist/main.js` });
  }
  list.push(
    { source: 'services/audit-writer/src/verify-cli.ts', out: 'services/audit-writer/dist/verify-cli.js' },
    { source: 'cli/src/main.ts', out: 'cli/dist/main.js' },
    {
      source: 'examples/webhook-notifier/src/main.ts',
      out: 'examples/webhook-notifier/dist/main.js',
    },
  );
  return list;
}

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** The directory Node would load `pkg` from, starting at `dir` (node_modules lookup upwards). */
function packageDir(pkg: string, dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', pkg);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(d) === d) return undefined;
  }
}

/**
 * The workspace's own packages are bundled; everything else stays an import of node_modules,
 * resolved again from the output's directory. A package that a workspace package has as its own
 * nested copy (npm did not hoist it) would resolve to another copy, or to none, from there: that
 * one is bundled in instead, so the bundle runs exactly the code its source imports.
 */
function thirdPartyExternal(out: string, inlined: Set<string>): Plugin {
  return {
    name: 'third-party-external',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@flotilla/') || args.path.startsWith('node:')) return undefined;
        const pkg = packageName(args.path);
        if (packageDir(pkg, args.resolveDir) !== packageDir(pkg, dirname(join(root, out)))) {
          inlined.add(`${out}: ${pkg} (from ${relative(root, args.importer)})`);
          return undefined;
        }
        return { path: args.path, external: true };
      });
    },
  };
}

// Bundled CommonJS calls require() for Node built-ins; an ES module has none of its own.
const REQUIRE_BANNER =
  "import { createRequire as __flotillaCreateRequire } from 'node:module'; const require = __flotillaCreateRequire(import.meta.url);";

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Entries whose output is missing or older than any workspace source (a coarse, safe check). */
export function stale(list = entries()): Entry[] {
  const sources = Math.max(
    ...['libs', 'services', 'cli', 'examples'].map((d) => newestSource(join(root, d))),
  );
  return list.filter((e) => {
    const out = join(root, e.out);
    return !existsSync(out) || statSync(out).mtimeMs < sources;
  });
}

/** Builds the given entries (default: all) and returns how long it took in ms. */
export async function buildAll(list = entries(), quiet = false): Promise<number> {
  const started = performance.now();
  const inlined = new Set<string>();
  await Promise.all(
    list.map(async (e) => {
      const result = await build({
        absWorkingDir: root,
        entryPoints: [e.source],
        outfile: e.out,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node24',
        // Linked source maps: stack traces map back to the TypeScript with --enable-source-maps.
        sourcemap: 'linked',
        sourcesContent: false,
        legalComments: 'none',
        logLevel: 'warning',
        plugins: [thirdPartyExternal(e.out, inlined)],
        banner: { js: REQUIRE_BANNER },
        write: false,
      });
      for (const file of result.outputFiles) {
        mkdirSync(dirname(file.path), { recursive: true });
        const tmp = `${file.path}.${process.pid}.tmp`;
        writeFileSync(tmp, file.contents);
        renameSync(tmp, file.path);
      }
    }),
  );
  // The console's page (services/console/dist/web): images ship it built, the bundle serves it.
  await buildWeb(DEFAULT_ASSETS_DIR);
  if (inlined.size > 0 && !quiet) console.log(`bundled in (not hoisted): ${[...inlined].join('; ')}`);
  return performance.now() - started;
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const old = stale();
    if (old.length > 0) {
      console.error(`out of date (run \`npm run build\`): ${old.map((e) => e.out).join(', ')}`);
      process.exit(1);
    }
  } else {
    const ms = await buildAll();
    const list = entries();
    console.log(
      `built ${list.length} entries in ${Math.round(ms)} ms: ${list.map((e) => relative(root, join(root, e.out))).join(', ')}`,
    );
  }
}
