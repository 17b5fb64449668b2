export { CliError, EXIT, type ExitCode } from './exit-codes.ts';
export { ApiClient, type ApiOptions, errorForResponse } from './http-client.ts';
export { type Io, processIo } from './io.ts';
export {
  inboxPrefixFor,
  type NatsAuthOptions,
  type NatsIdentity,
  natsIdentities,
  passwordEnvVar,
  renderNatsAuthorization,
} from './nats-auth.ts';
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
