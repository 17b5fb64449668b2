/**
 * The registry and NATS harnesses of @flotilla/test-support, imported file by file on purpose:
 * the package index also loads the kube test cluster, whose @kubernetes/client-node pulls in
 * undici 7, and on Node 20 merely importing it installs undici 7's Agent as the global
 * dispatcher of the built-in fetch, after which the harness's blob PUTs fail with
 * "invalid content-length header". Switch back to '@flotilla/test-support' once that is fixed.
 */
export { freePort } from '../../../libs/test-support/src/free-port.ts';
export { type NatsServer, startNats } from '../../../libs/test-support/src/nats-server.ts';
export {
  pushImage,
  pushManyTags,
  type RegistryHandle,
  startRegistry,
} from '../../../libs/test-support/src/registry.ts';
