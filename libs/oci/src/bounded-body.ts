import { OciError } from './errors.ts';

/**
 * The most of each answer read from a registry. A registry may be hostile or broken: a body is
 * read only up to its limit, so one answer cannot exhaust the watcher's memory. Manifests: the
 * distribution spec has registries accept at least 4 MiB, and containerd reads no more.
 */
export const BODY_LIMITS = {
  manifest: 4 * 1024 * 1024,
  /** One page of a tag list (a page of 10,000 long tags is under 2 MiB). */
  tags: 4 * 1024 * 1024,
  /** An image config blob (read for its `created`). */
  config: 8 * 1024 * 1024,
  /** A token server's answer. */
  token: 1024 * 1024,
  /** An error body, kept for its code and message only: cut, never refused. */
  error: 64 * 1024,
} as const;

export type BodyKind = keyof typeof BODY_LIMITS;

/**
 * The body, or `oci.too-large` once it passes `BODY_LIMITS[kind]` (by its Content-Length before
 * any byte is read, else while streaming); the rest is not read. `error` bodies are cut instead.
 */
export async function readBounded(
  res: Response,
  kind: BodyKind,
  what: { registry: string; repository?: string; reference?: string },
): Promise<Uint8Array> {
  const max = BODY_LIMITS[kind];
  const tooLarge = (size: string) =>
    new OciError('oci.too-large', `${what.registry}: ${kind} answer is ${size}, over the ${max}-byte limit`, {
      details: { ...what, limit: max },
    });
  const declared = Number(res.headers.get('content-length'));
  if (kind !== 'error' && Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(`${declared} bytes`);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      if (kind !== 'error') throw tooLarge(`more than ${max} bytes`);
      chunks.push(value.subarray(0, value.byteLength - (size - max)));
      break;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** An error body's text, cut at `BODY_LIMITS.error`. */
export async function readErrorText(res: Response, registry: string): Promise<string> {
  return Buffer.from(await readBounded(res, 'error', { registry })).toString('utf8');
}

/** Reads and drops a body not needed (a redirect's, a challenge's) up to the error limit, so the connection is reused. */
export async function drain(res: Response): Promise<void> {
  await readBounded(res, 'error', { registry: '' });
}
