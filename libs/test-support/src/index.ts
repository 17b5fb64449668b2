export {};
export * from './registry.ts';
export * from './git-server.ts';
export * from './test-cluster.ts';
