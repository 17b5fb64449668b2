import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests beside the code (bench/'s pure helpers among them), and
// integration tests (real NATS, apiservers, git, registry) kept apart. At most two test files run at once: every integration file starts
// real servers and these machines have two cores.
export default defineConfig({
  test: {
    pool: 'forks',
    // Services and the CLI run in tests as in production: built bundles (scripts/build.ts).
    globalSetup: ['./test/build-programs.ts'],
    teardownTimeout: 60_000,
    // minForks 2 as well: with 1, a file queued behind a quick one waited for a long one to end
    // instead of taking the freed slot (tinypool keeps only the minimum after an isolated file).
    poolOptions: { forks: { maxForks: 2, minForks: 2 } },
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{libs,services,cli,examples}/*/src/**/*.test.ts',
            'cli/src/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            '{libs,services,examples}/*/test/**/*.test.ts',
            'cli/test/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
