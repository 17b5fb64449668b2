import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests beside the code, and integration tests (real NATS,
// apiservers, git, registry) kept apart. Integration files run in few forks because
// every one of them starts real servers and these machines have two cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{libs,services,cli,examples}/*/src/**/*.test.ts', 'cli/src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['{libs,services,examples}/*/test/**/*.test.ts', 'cli/test/**/*.test.ts', 'test/**/*.test.ts'],
          environment: 'node',
          pool: 'forks',
          poolOptions: { forks: { maxForks: 2, minForks: 1 } },
          testTimeout: 120_000,
          hookTimeout: 300_000,
          teardownTimeout: 60_000,
        },
      },
    ],
  },
});
