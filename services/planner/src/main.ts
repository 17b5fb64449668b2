import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startPlanner } from './service.ts';

await runService({
  name: 'planner',
  start: async (logger) => await startPlanner(loadConfig(Config), logger),
});
