/**
 * Why `value` (a path from a kustomization) is a remote form kustomize would fetch, or null when
 * it is a plain relative path. Deliberately broader than kustomize's own parser (which tries
 * the remote interpretation before the local one): anything that could be read as a URL, a
 * go-getter string, an scp-like `host:path`, a repo spec with a query or `//` subdirectory, or a
 * `.git` repository is refused, even if a local file of that name happened to exist.
 */
export function remoteReason(value: string): string | null {
  const v = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.includes('://')) return 'a URL';
  if (/^[a-z0-9+.-]+::/i.test(v)) return 'a go-getter source (`git::`, `s3::`, …)';
  if (v.includes('?')) return 'a repository spec with a query (`?ref=`, `?version=`, …)';
  // scp-like `user@host:path`, `github.com:org/repo`, `gh:org/repo`, also `C:\…`: a colon
  // before the first slash. No plain relative path needs one.
  const firstSegment = v.split('/', 1)[0] ?? '';
  if (firstSegment.includes(':')) return 'an scp-like `host:path` git remote';
  if (firstSegment.includes('@')) return 'a `user@host` git remote';
  // `//` separates a repository from a subdirectory in kustomize repo specs.
  if (/.\/\//.test(v)) return 'a repository spec with a `//` subdirectory';
  if (/(^|\/)[^/]*\.git(\/|$)/.test(v) || /(^|\/)_git\//.test(v)) return 'a git repository';
  // Hosts kustomize accepts without a scheme.
  if (/^(www\.)?(github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com|ssh\.dev\.azure\.com)(\/|$)/i.test(v))
    return 'a repository on a git host';
  return null;
}

export const isRemoteReference = (value: string) => remoteReason(value) !== null;
