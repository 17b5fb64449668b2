import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export const WEB_SRC = resolve(import.meta.dirname, '../web');
export const DEFAULT_ASSETS_DIR = resolve(import.meta.dirname, '../dist/web');

// No command-line entry here: this module is bundled into the console's dist/main.js, where an
// "am I the main module?" check is true for the bundle itself (it ran a build of the missing
// sources at start in the image). scripts/build.ts builds the page with the services.

/**
 * Bundles the single-page app (Preact, TSX) into `outDir`: index.html, assets/app.js,
 * assets/app.css. Minified, one file each: the page is small enough that splitting would only
 * add round trips.
 */
export async function buildWeb(outDir = DEFAULT_ASSETS_DIR): Promise<{ outDir: string; bytes: number }> {
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: { app: join(WEB_SRC, 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: join(outDir, 'assets'),
    loader: { '.css': 'css' },
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
  });
  writeFileSync(join(outDir, 'index.html'), readFileSync(join(WEB_SRC, 'index.html')));
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { outDir, bytes };
}
