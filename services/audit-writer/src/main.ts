import { loadConfig, runService } from '@flotilla/runtime';
import { Config } from './config.ts';
import { startAuditWriter } from './service.ts';

await runService({
  name: 'audit-writer',
  start: async (logger) => startAuditWriter(loadConfig(Config), logger),
});
