import { isValidTag } from '@flotilla/oci';

/**
 * What one check must do, decided from the listed tags and what we already know. Pure, so the
 * request budget of a cycle is unit-tested: when nothing changed, the only requests are the tag
 * list and one conditional HEAD per tracked mutable tag.
 */

export interface TagHint {
  tag?: string;
  digest?: string;
  /** Re-checks already spent on this hint (the registry notifies before it moves the tag). */
  attempt?: number;
}

export interface DiffInput {
  /** Tags the registry listed (already bounded by maxTags). */
  listed: string[];
  /** True when the list hit maxTags/maxPages: absent tags may just be beyond the cut. */
  truncated: boolean;
  /** tag → digest we already reported. */
  known: Readonly<Record<string, string>>;
  tagFilter: RegExp | undefined;
  mutableTags: RegExp | undefined;
  /** Tags named by a webhook; checked even if immutable-looking, skipped if the hinted digest is known. */
  hints?: TagHint[];
  maxNew: number;
}

export interface TagDiff {
  /** Tags to HEAD and report as detected (bounded by maxNew). */
  added: string[];
  /** Known tags whose digest must be re-read (mutable or hinted). */
  recheck: string[];
  /** Known tags no longer listed: forgotten, so a later re-push is seen as new. */
  removed: string[];
  /** New tags left for a later cycle because of maxNew. */
  deferred: number;
  /**
   * Listed or hinted names that are not tags (a digest in a webhook's tag field, junk from a
   * registry): never reported, so one bad name cannot fail every later check of the image.
   */
  invalid: string[];
}

export function matchesFilter(tag: string, filter: RegExp | undefined): boolean {
  return filter ? filter.test(tag) : true;
}

export function diffTags(input: DiffInput): TagDiff {
  const invalid = new Set<string>();
  const valid = (tag: string) => {
    if (isValidTag(tag)) return true;
    invalid.add(tag);
    return false;
  };
  const listed = new Set(input.listed.filter((t) => valid(t) && matchesFilter(t, input.tagFilter)));
  const hinted = new Map<string, string | undefined>();
  for (const h of input.hints ?? []) {
    if (h.tag && valid(h.tag) && matchesFilter(h.tag, input.tagFilter)) hinted.set(h.tag, h.digest);
  }
  // Registries list eventually: a webhook may name a tag the list does not show yet.
  for (const tag of hinted.keys()) listed.add(tag);

  const added: string[] = [];
  const recheck: string[] = [];
  let deferred = 0;
  for (const tag of [...listed].sort()) {
    const digest = input.known[tag];
    if (digest === undefined) {
      if (added.length < input.maxNew) added.push(tag);
      else deferred++;
      continue;
    }
    if (hinted.has(tag)) {
      const hint = hinted.get(tag);
      if (hint !== digest) recheck.push(tag);
    } else if (input.mutableTags?.test(tag)) {
      recheck.push(tag);
    }
  }
  const removed = input.truncated
    ? []
    : Object.keys(input.known).filter((t) => !listed.has(t) || !matchesFilter(t, input.tagFilter));
  return { added, recheck, removed, deferred, invalid: [...invalid] };
}
