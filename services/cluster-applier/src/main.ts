import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startApplier } from './service.ts';

await runService({
  name: 'cluster-applier',
  start: async (logger) => await startApplier(loadConfig(Config), logger),
});
