/** The `rel="next"` target of a `Link` header, resolved against `base` (Distribution sends path-only URLs). */
export function parseNextLink(header: string | null | undefined, base: string | URL): URL | undefined {
  if (!header) return undefined;
  const re = /<([^>]*)>\s*((?:;\s*[^;,]+)*)/g;
  for (let m = re.exec(header); m; m = re.exec(header)) {
    const params = m[2] ?? '';
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(params);
    if (rel && rel[1]!.split(/\s+/).includes('next')) {
      try {
        return new URL(m[1]!, base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
