export interface GitIdentity {
  name: string;
  email: string;
  /** Commit or author time (from git, second precision). */
  time: Date;
}

export interface CommitInfo {
  sha: string;
  parents: string[];
  author: GitIdentity;
  committer: GitIdentity;
  message: string;
  /** Paths changed (against the first parent), restricted to the paths of interest when given. */
  changedPaths: string[];
  /** False when paths of interest were given and the commit touches none of them: callers skip it. */
  relevant: boolean;
}

const RS = '\x1e';
const US = '\x1f';

/** `git log` format: one record per commit, fields split by US, names follow after the last US. */
export const LOG_FORMAT = `${RS}%H${US}%P${US}%an${US}%ae${US}%at${US}%cn${US}%ce${US}%ct${US}%B${US}`;

/** Normalises paths of interest: no leading `./` or `/`, no trailing `/`; `''` or `.` means everything. */
export function normalisePaths(paths: readonly string[] | undefined): string[] | undefined {
  if (!paths || paths.length === 0) return undefined;
  const out = paths.map((p) => p.replace(/^\.\//, '').replace(/^\/+/, '').replace(/\/+$/, ''));
  return out.some((p) => p === '' || p === '.') ? undefined : out;
}

/** A path matches a path of interest when it is that file or lies under that directory. */
export function matchesPaths(path: string, paths: readonly string[] | undefined): boolean {
  if (!paths) return true;
  return paths.some((p) => path === p || path.startsWith(`${p}/`));
}

/** Parses `git log -z --name-only --format=LOG_FORMAT` output. */
export function parseLog(out: string, paths?: readonly string[]): CommitInfo[] {
  const commits: CommitInfo[] = [];
  for (const record of out.split(RS)) {
    if (!record) continue;
    const fields = record.split(US);
    if (fields.length < 10) continue;
    const [sha = '', parents = '', an = '', ae = '', at = '0', cn = '', ce = '', ct = '0'] = fields;
    const message = fields.slice(8, fields.length - 1).join(US);
    const names = (fields[fields.length - 1] ?? '')
      .split('\0')
      .map((n) => n.replace(/^\n/, ''))
      .filter((n) => n.length > 0);
    const changed = names.filter((n) => matchesPaths(n, paths));
    commits.push({
      sha,
      parents: parents ? parents.split(' ') : [],
      author: { name: an, email: ae, time: new Date(Number(at) * 1000) },
      committer: { name: cn, email: ce, time: new Date(Number(ct) * 1000) },
      message: message.replace(/\n+$/, ''),
      changedPaths: changed,
      relevant: !paths || changed.length > 0,
    });
  }
  return commits;
}
