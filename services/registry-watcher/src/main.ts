import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startRegistryWatcher } from './service.ts';

await runService({
  name: 'registry-watcher',
  start: async (logger) => startRegistryWatcher(loadConfig(Config), logger),
});
