export { type ConsoleDeps, registerConsole } from './app.ts';
export { type AuditApi, auditApi } from './audit-client.ts';
export { buildWeb, DEFAULT_ASSETS_DIR } from './build-web.ts';
export { Config } from './config.ts';
export { EventHub, startLiveFeed } from './live-feed.ts';
export { type PlannerApi, plannerApi } from './planner-adapter.ts';
export { startConsole } from './service.ts';
export { type UpstreamTls, upstreamFetcher } from './upstream.ts';
