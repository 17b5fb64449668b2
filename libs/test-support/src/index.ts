export { killGroup, type Spawned, spawnTracked, stopProcess } from './child-process.ts';
export * from './event-collector.ts';
export * from './flotilla-stack.ts';
export { freePort } from './free-port.ts';
export * from './git-server.ts';
export {
  NATS_VERSION,
  type NatsCluster,
  type NatsServer,
  type NatsServerOptions,
  natsGreeting,
  natsServerBinary,
  type RouteSecurity,
  startNats,
  startNatsCluster,
} from './nats-server.ts';
export * from './podman.ts';
export { type Program, programArgs, programNodeArgs, programPath } from './programs.ts';
export { metricSum, scrapeMetric } from './prometheus.ts';
export { type RawNats, rawNats } from './raw-nats.ts';
export * from './registry.ts';
export * from './service-containers.ts';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
export { createTestCa, natsTlsConfig, type TestCa, type TestCertificate } from './test-ca.ts';
export * from './test-cluster.ts';
export { trickleRequest } from './trickle.ts';
export { GiveUp, type WaitOptions, waitFor, waitUntil } from './wait.ts';
