// The planner exactly as src/main.ts starts it, plus one fault injected through startPlanner's
// options. CRASH_AT picks it: `promotion-push` (default) is SIGKILL right after a promotion commit
// was pushed, before anything else is recorded; `rollback-push` the same for a rollback commit
// (before its lock and event are saved); `change-issued` after a held change's approval was
// recorded and its plan issued, before the API answered; `outbox:<event type>` is SIGKILL right after a
// decision was saved with that event in its outbox, before it is published.
// Lives in test/, so no shipped planner can be configured to crash.
import type { FlotillaEvent } from '@flotilla/events';
import { type Logger, loadConfig, runService } from '@flotilla/runtime';
import { Config, RENAMED } from '../src/config.ts';
import type { PlannerFaults } from '../src/promotions.ts';
import { startPlanner } from '../src/service.ts';

const crashAt = process.env.CRASH_AT ?? 'promotion-push';

async function crash(logger: Logger, what: Record<string, unknown>, msg: string): Promise<never> {
  logger.fatal(what, `fault injection: ${msg}`);
  process.kill(process.pid, 'SIGKILL');
  return await new Promise<never>(() => {});
}

function faultsFor(logger: Logger): PlannerFaults {
  if (crashAt === 'promotion-push')
    return {
      afterPromotionPush: async (promotion, commit) =>
        await crash(logger, { promotion, commit }, 'crashing after promotion push'),
    };
  if (crashAt === 'change-issued')
    return {
      afterChangeIssued: async (change) =>
        await crash(logger, { change }, 'crashing after issuing an approved change'),
    };
  if (crashAt === 'rollback-push')
    return {
      afterRollbackPush: async (request, commit) =>
        await crash(logger, { request, commit }, 'crashing after rollback push'),
    };
  const type = crashAt.replace(/^outbox:/, '');
  return {
    afterOutboxSave: async (events: FlotillaEvent[]) => {
      if (events.some((e) => e.type === type))
        await crash(logger, { events: events.map((e) => e.id) }, `crashing after saving ${type}`);
    },
  };
}

await runService({
  name: 'planner',
  start: async (logger) =>
    await startPlanner(loadConfig(Config, { renamed: RENAMED }), logger, { faults: faultsFor(logger) }),
});
