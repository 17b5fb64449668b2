import { expect } from 'vitest';
import type { ApiResponse } from './harness.ts';

// A file of its own, imported by the API tests, not by the harness: the benches in bench/planner
// drive the same harness outside vitest, where importing vitest's `expect` throws.
declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: must match vitest's own declaration, Matchers<T = any>
  interface Matchers<T = any> {
    /** `expect(await h.api(...)).toHaveStatus(200)`: on a mismatch the message shows the body. */
    toHaveStatus(status: number): T;
  }
}

// Every planner API test asserts its statuses with this, so a failure reads
// "expected 200, got 503 {"error":"unavailable","message":"..."}" instead of "expected 503 to be
// 200": a 503 seen once in a loaded CI run is otherwise undiagnosable (which error escaped).
expect.extend({
  toHaveStatus(received: ApiResponse, status: number) {
    return {
      pass: received.status === status,
      message: () =>
        `expected HTTP ${this.isNot ? 'not ' : ''}${status}, got ${received.status} ${JSON.stringify(received.body)}`,
      actual: received.status,
      expected: status,
    };
  },
});
