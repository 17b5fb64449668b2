// The planner exactly as src/main.ts starts it, plus one fault injected through startPlanner's
// options: SIGKILL right after a promotion commit was pushed, before anything else is recorded.
// Lives in test/, so no shipped planner can be configured to crash.
import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from '../src/config.ts';
import { startPlanner } from '../src/service.ts';

await runService({
  name: 'planner',
  start: async (logger) =>
    await startPlanner(loadConfig(Config), logger, {
      faults: {
        afterPromotionPush: async (promotion, commit) => {
          logger.fatal({ promotion, commit }, 'fault injection: crashing after promotion push');
          process.kill(process.pid, 'SIGKILL');
          await new Promise(() => {});
        },
      },
    }),
});
