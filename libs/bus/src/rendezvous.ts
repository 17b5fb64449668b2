import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: every instance computes, from the same member list,
 * the same preferred owner for each repo, and when a member joins or leaves only its share moves.
 */
export function preferredOwner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = '';
  for (const m of members) {
    const w = createHash('sha256').update(`${m}\0${key}`).digest('hex');
    if (best === undefined || w > bestWeight) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}
