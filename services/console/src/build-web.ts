import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

export const WEB_SRC = resolve(import.meta.dirname, '../web');
export const DEFAULT_ASSETS_DIR = resolve(import.meta.dirname, '../dist/web');

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

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_ASSETS_DIR;
  const { bytes } = await buildWeb(out);
  process.stdout.write(`built ${out} (${bytes} bytes before compression)\n`);
  void dirname;
}
