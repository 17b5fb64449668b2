import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startConsole } from './service.ts';

await runService({
  name: 'console',
  start: async (logger) => startConsole(loadConfig(Config), logger),
});
