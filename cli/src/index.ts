export { CliError, EXIT, type ExitCode } from './exit-codes.ts';
export { ApiClient, type ApiOptions, errorForResponse } from './http-client.ts';
export { type Io, processIo } from './io.ts';
export {
  identitiesFrom,
  inboxPrefixFor,
  type NatsAuthOptions,
  type NatsIdentity,
  natsIdentities,
  passwordEnvVar,
  renderNatsAuthorization,
} from './nats-auth.ts';
export { type BootstrapOptions, bootstrapNats } from './nats-bootstrap.ts';
export { flotillaDeclarations, type InstallShape, subscriberResources } from './nats-declarations.ts';
export { buildProgram, DEFAULTS, runCli } from './program.ts';
export {
  type ClusterWire,
  type DriftRecord,
  driftByCluster,
  type ImageRefWire,
  type PromotionWire,
  rolloutState,
  type StageWire,
  type StatusWire,
  syncText,
} from './status-view.ts';
export { renderTable } from './table.ts';
