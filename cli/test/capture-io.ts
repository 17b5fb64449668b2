import type { Io } from '../src/io.ts';

/** An Io that keeps what the CLI printed: stdout lines in outText, stderr and status lines in errText. */
export function capture(): Io & { outText: string[]; errText: string[] } {
  const outText: string[] = [];
  const errText: string[] = [];
  return {
    outText,
    errText,
    interactive: false,
    out: (l) => outText.push(l),
    err: (l) => errText.push(l),
    status: (l) => errText.push(l),
    progress: () => undefined,
    progressDone: () => undefined,
  };
}
