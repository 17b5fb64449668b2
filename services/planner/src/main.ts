import { loadConfig, runService } from '@flotilla/runtime';
import { Config, RENAMED } from './config.ts';
import { startPlanner } from './service.ts';

await runService({
  name: 'planner',
  start: async (logger) => await startPlanner(loadConfig(Config, { renamed: RENAMED }), logger),
});
