import { loadConfig, runService } from '@flotilla/runtime';
import { Config, RENAMED } from './config.ts';
import { startApplier } from './service.ts';

await runService({
  name: 'cluster-applier',
  start: async (logger) => await startApplier(loadConfig(Config, { renamed: RENAMED }), logger),
});
