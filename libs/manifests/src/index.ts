export {
  APPLY_STAGE_NAMES,
  type ApplyStage,
  type ApplyStageName,
  applyStages,
  compareApplyOrder,
  pruneOrder,
  sortForApply,
  stageOf,
} from './apply-order.ts';
export {
  BUNDLE_API_VERSION,
  BUNDLE_KIND,
  type Bundle,
  type BundleInit,
  type BundleSource,
  bundleContentDigest,
  bundleDigest,
  createBundle,
  type DecodeBundleOptions,
  type DecodeBundleResult,
  decodeBundle,
  encodeBundle,
  isSafeRepoPath,
  objectHash,
  sortObjects,
} from './bundle.ts';
export { canonicalJson, canonicalJsonBytes, sha256Digest } from './canonical-json.ts';
export { isManifestError, ManifestError, type ManifestErrorCode, type SourceLocation } from './errors.ts';
export { isKnownClusterScoped } from './known-kinds.ts';
export { isPlainObject, type KubeMetadata, type KubeObject, splitApiVersion } from './kube-object.ts';
export { DEFAULT_LIMITS, type ManifestLimits } from './limits.ts';
export {
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isPathSegmentName,
  nameProblem,
} from './names.ts';
export {
  apiVersionOf,
  compareRefs,
  formatRef,
  type ObjectRef,
  parseRefKey,
  refKey,
  refOf,
} from './object-ref.ts';
export {
  type ObjectSource,
  type ParsedObject,
  type ParseOptions,
  type ParseResult,
  parseManifests,
} from './parse.ts';
export { redactManifestForLog } from './redact.ts';
