import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startGitWatcher } from './service.ts';

await runService({
  name: 'git-watcher',
  start: async (logger) => startGitWatcher(loadConfig(Config), logger),
});
