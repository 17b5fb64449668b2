import { loadConfig, runService } from '@flotilla/runtime';
import { Config, RENAMED } from './config.ts';
import { startRegistryWatcher } from './service.ts';

await runService({
  name: 'registry-watcher',
  start: async (logger) => startRegistryWatcher(loadConfig(Config, { renamed: RENAMED }), logger),
});
