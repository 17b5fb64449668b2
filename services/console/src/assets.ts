import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';

export interface Asset {
  type: string;
  etag: string;
  raw: Buffer;
  gzip: Buffer;
  br: Buffer;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

/**
 * The built single-page app, read once and compressed once at start: a handful of files, so
 * serving them from memory beats a static-file plugin, and the first-load size is what we measure.
 */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else {
        const raw = readFileSync(join(dir, path));
        assets.set(`/${path}`, {
          type: TYPES[extname(path)] ?? 'application/octet-stream',
          etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
          raw,
          gzip: gzipSync(raw, { level: 9 }),
          br: brotliCompressSync(raw),
        });
      }
    }
  };
  walk('');
  return assets;
}
