export { type ConsoleDeps, registerConsole } from './app.ts';
export { buildWeb, DEFAULT_ASSETS_DIR } from './build-web.ts';
export { Config } from './config.ts';
export { EventHub, startLiveFeed } from './live-feed.ts';
export { startConsole } from './service.ts';
