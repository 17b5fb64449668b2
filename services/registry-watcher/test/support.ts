export {
  freePort,
  type NatsServer,
  pushImage,
  pushManyTags,
  type RegistryHandle,
  startNats,
  startRegistry,
} from '@flotilla/test-support';
