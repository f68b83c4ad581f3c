import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Unit tests (pure logic, *.test.ts beside the code) and integration tests (test/**, against
// the real Docker daemon and real etcd processes the tests start) run from source; only the
// CLI tests spawn the built bins, so `npm test` builds first.
const core = fileURLToPath(new URL('./packages/core/src/index.ts', import.meta.url));
const coreCli = fileURLToPath(new URL('./packages/core/src/cli/index.ts', import.meta.url));
const coreCheck = fileURLToPath(new URL('./packages/core/src/check.ts', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@checker\/core\/cli$/, replacement: coreCli },
      { find: /^@checker\/core\/check$/, replacement: coreCheck },
      { find: /^@checker\/core$/, replacement: core },
    ],
  },
  test: {
    disableConsoleIntercept: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores: keep Docker-heavy files from starving each other. After the unit tests.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
