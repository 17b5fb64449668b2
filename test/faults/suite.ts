import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { formatTable, type Verdict } from './checker.ts';

// What the fault files share. Two files, so that vitest runs them side by side (two at once, as
// for every integration file here): most of a row's time is its faults' own durations (a pause
// past a lease TTL, a cut, a control-plane restart), not work, so two rows overlap well.

/** `FLOTILLA_FAULT_MINUTES=N` runs every nemesis for N minutes; unset, the short CI run. */
export const minutes = Number(process.env.FLOTILLA_FAULT_MINUTES ?? 0);
export const durationMs = (defaultMs: number) => (minutes > 0 ? minutes * 60_000 : defaultMs);
/** A row's test timeout: its workload plus set-up, convergence and teardown on a loaded machine. */
export const timeout = (ms: number) => ms + 240_000;

/**
 * The verdicts of one file's rows: printed at the end and written to
 * test/faults/results/<name>.md (not tracked; docs/reliability.md quotes a run).
 */
export function faultResults(name: string, file: string): { expectSurvived(v: Verdict): void } {
  const verdicts: Verdict[] = [];
  afterAll(() => {
    const table = formatTable(verdicts);
    console.log(
      `\nfault-injection results, ${name} (${minutes > 0 ? `${minutes} min` : 'default'} per nemesis)\n${table}\n`,
    );
    mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
    writeFileSync(
      join(import.meta.dirname, 'results', `${name}.md`),
      `<!-- npx vitest run ${file} (FLOTILLA_FAULT_MINUTES=${minutes || 'default'}) -->\n${table}\n`,
    );
  });
  return {
    expectSurvived(v: Verdict): void {
      verdicts.push(v);
      expect(v.faults).toBeGreaterThan(0);
      expect(v.acknowledged).toBeGreaterThan(0);
      expect({ lost: v.lost, deadLettered: v.deadLettered, diverged: v.diverged }).toEqual({
        lost: [],
        deadLettered: 0,
        diverged: [],
      });
      expect(v.duplicates).toBe(0);
      expect(v.staleLeaderActions).toBe(0);
      expect(v.violations).toEqual([]);
      if (v.skippedStages)
        expect({ skipped: v.skippedStages, unapproved: v.unapproved }).toEqual({
          skipped: [],
          unapproved: [],
        });
      if (v.audit) expect(v.audit).toEqual({ missing: [], duplicated: [], chainBreaks: [] });
    },
  };
}
