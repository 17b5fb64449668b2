import { createHash } from 'node:crypto';

/**
 * Event ids derived from what was seen, so the same observation made twice (a webhook and a poll,
 * two instances during a lease handover, a retry after a crash) becomes the same `Nats-Msg-Id`
 * and JetStream stores it once.
 */
function hash(parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40);
}

export function tagDetectedId(image: string, tag: string, digest: string): string {
  return `itd-${hash(['detected', image, tag, digest])}`;
}

/**
 * `generation` counts the moves of this tag: a tag that goes A→B→A→B must report its second
 * A→B again, which a hash of the two digests alone would dedupe away.
 */
export function tagMovedId(
  image: string,
  tag: string,
  previousDigest: string,
  digest: string,
  generation: number,
): string {
  return `itm-${hash(['moved', image, tag, previousDigest, digest, generation])}`;
}
