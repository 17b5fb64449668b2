import { loadConfig, runService } from '@flotilla/runtime';
import { Config, RENAMED } from './config.ts';
import { startGitWatcher } from './service.ts';

await runService({
  name: 'git-watcher',
  start: async (logger) => startGitWatcher(loadConfig(Config, { renamed: RENAMED }), logger),
});
