export {
  type ClientStats,
  type Descriptor,
  describeManifest,
  type ListTagsOptions,
  type ManifestHead,
  type ManifestResult,
  type PingResult,
  type Platform,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryCredentials,
  type RequestKind,
  registryBaseUrl,
  type TagList,
} from './client.ts';
export {
  codeForRegistryCode,
  codeForStatus,
  dispositionForCode,
  isOciError,
  OCI_ERROR_CODES,
  OciError,
  type OciErrorCode,
  type OciErrorDetails,
  parseErrorBody,
} from './errors.ts';
export {
  DOCKER_HUB,
  DOCKER_HUB_API,
  formatImageRef,
  type ImageRef,
  isValidDigest,
  isValidRepository,
  isValidTag,
  normalizeRegistry,
  parseImageRef,
} from './image-ref.ts';
export { parseNextLink } from './link-header.ts';
export {
  baseMediaType,
  INDEX_MEDIA_TYPES,
  MANIFEST_ACCEPT,
  MANIFEST_MEDIA_TYPES,
  MediaTypes,
} from './media-types.ts';
export {
  DISTRIBUTION_EVENTS_V1,
  DISTRIBUTION_EVENTS_V2,
  isDistributionEventsContentType,
  NEXUS_COMPONENT_WEBHOOK,
  parseAcrEvent,
  parseDistributionNotification,
  parseDockerHubPush,
  parseHarborEvent,
  parseNexusEvent,
  parseQuayPush,
  parseRegistryWebhook,
  type RegistryPushEvent,
  registryWebhookShapeError,
  type WebhookSource,
} from './webhooks.ts';
export { type AuthChallenge, parseWwwAuthenticate } from './www-authenticate.ts';
