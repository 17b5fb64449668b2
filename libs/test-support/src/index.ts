export {};
export * from './registry.ts';
