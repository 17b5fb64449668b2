// Separation of duties (SOC 2 CC8.1: changes approved by someone other than their author). Git
// identities are self-asserted and come from another system than API identities (`user:alice`
// vs `Alice <alice@example.com>`), so matching is deliberately generous: a false "same person"
// only asks for another approver, a false "different person" would defeat the control.

export interface GitPerson {
  name: string;
  email: string;
}

/** A commit of a change: who wrote it and who committed it. */
export interface ChangeCommit {
  commit: string;
  author: GitPerson;
  committer: GitPerson;
}

/**
 * Is `actor` (`user:alice`, `alice`) this Git person? Compares the bare name, case-insensitively,
 * with the person's name, email and the email's local part.
 */
export function isSamePerson(actor: string, person: GitPerson): boolean {
  const bare = actor
    .replace(/^[a-z]+:/, '')
    .trim()
    .toLowerCase();
  if (!bare) return false;
  const email = person.email.trim().toLowerCase();
  return [person.name.trim().toLowerCase(), email, email.split('@')[0] ?? ''].includes(bare);
}

/** The commits of a change that `actor` authored or committed (empty: they may approve it). */
export function commitsBy(actor: string, commits: readonly ChangeCommit[]): string[] {
  return commits
    .filter((c) => isSamePerson(actor, c.author) || isSamePerson(actor, c.committer))
    .map((c) => c.commit);
}

/** Authors and committers of a change, once each, by email (names differ across machines). */
export function changePeople(commits: readonly ChangeCommit[]): string[] {
  return [...new Set(commits.flatMap((c) => [c.author.email, c.committer.email]))].sort();
}
