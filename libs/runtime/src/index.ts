export {
  type ApiToken,
  ApiTokenSchema,
  type AuthorisedToken,
  apiTokensConfig,
  identifyBearer,
  loadApiTokens,
} from './api-tokens.ts';
export { ConfigError, envName, type LoadConfigOptions, loadConfig, readSecret } from './config.ts';
export {
  createServiceServer,
  type ReadinessCheck,
  type ServerOptions,
  type ServiceServer,
} from './http-server.ts';
export { createLogger, type Logger, type LoggerOptions, REDACT_PATHS } from './logger.ts';
export {
  ackWait,
  consumerOptions,
  fixedConsumerOptions,
  leaseOptions,
  leaseTtl,
  pollOptions,
  redeliveryOptions,
} from './option-groups.ts';
export { RejectionBudget } from './rejection-budget.ts';
export { type RunServiceOptions, runService, type ServiceHandle } from './run-service.ts';
export { registerSecret, scrubSecrets } from './secrets.ts';
export { serviceConfigFields } from './service-config.ts';
export { parseUntrustedJson, UntrustedJsonError } from './untrusted-json.ts';
export {
  header,
  isFormEncoded,
  registerWebhookReceiver,
  type WebhookEndpoint,
  type WebhookReceiverOptions,
  WebhookRefusal,
  type WebhookRejection,
  type WebhookRejectReason,
  webhookJsonText,
} from './webhook-receiver.ts';
export {
  hmacSha256Hex,
  type SignatureCheck,
  STANDARD_WEBHOOK_TOLERANCE_MS,
  type StandardWebhookHeaders,
  safeEqual,
  verifyBasicAuth,
  verifyBearer,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyHexHmac,
  verifyJfrogEventAuth,
  verifyNexusSignature,
  verifyStandardWebhook,
} from './webhook-signatures.ts';
