/** Where the CLI writes: results to stdout, diagnostics and progress to stderr. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Informational notes (stderr); quiet in `--output json` mode is the caller's choice. */
  status(line: string): void;
  /** Overwrites the current stderr line (spinner); a no-op when stderr is not a terminal. */
  progress(line: string): void;
  /** Ends a progress line. */
  progressDone(): void;
  readonly interactive: boolean;
}

export function processIo(): Io {
  const interactive = !!process.stderr.isTTY;
  let active = false;
  return {
    interactive,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    status: (line) => process.stderr.write(`${line}\n`),
    progress(line) {
      if (!interactive) return;
      active = true;
      process.stderr.write(`\r\x1b[2K${line}`);
    },
    progressDone() {
      if (active) process.stderr.write('\r\x1b[2K');
      active = false;
    },
  };
}
