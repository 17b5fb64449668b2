export { killGroup, type Spawned, spawnTracked, stopProcess, waitFor } from './child-process.ts';
export { freePort } from './free-port.ts';
export {
  NATS_VERSION,
  type NatsCluster,
  type NatsServer,
  type NatsServerOptions,
  natsServerBinary,
  startNats,
  startNatsCluster,
} from './nats-server.ts';
export * from './registry.ts';
export * from './git-server.ts';
export * from './test-cluster.ts';
export * from './flotilla-stack.ts';
