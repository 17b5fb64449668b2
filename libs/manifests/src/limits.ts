/** Limits that keep hostile or broken input from exhausting memory or CPU. All are overridable. */
export interface ManifestLimits {
  /** Largest single object, as compact JSON bytes. etcd refuses requests much over 1.5 MiB. */
  maxObjectBytes: number;
  /** Largest YAML text accepted by parseManifests, in UTF-8 bytes. */
  maxInputBytes: number;
  /** Most YAML documents (and objects, after `List` expansion) in one input. */
  maxDocuments: number;
  /** Most alias dereferences per document; YAML "billion laughs" needs many. */
  maxAliasCount: number;
  /** Largest encoded bundle, in bytes. */
  maxBundleBytes: number;
  /** Most objects in one bundle. */
  maxBundleObjects: number;
}

export const DEFAULT_LIMITS: Readonly<ManifestLimits> = Object.freeze({
  maxObjectBytes: 1024 * 1024,
  maxInputBytes: 64 * 1024 * 1024,
  maxDocuments: 20_000,
  maxAliasCount: 100,
  maxBundleBytes: 256 * 1024 * 1024,
  maxBundleObjects: 50_000,
});

export function resolveLimits(overrides: Partial<ManifestLimits> | undefined): ManifestLimits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
