/** Exit codes of `flotilla`, stable so scripts can branch on them. */
export const EXIT = {
  ok: 0,
  /** The command ran and the answer is "no": an API error, a failed rollout, a broken chain. */
  failure: 1,
  /** Bad arguments or options. */
  usage: 2,
  /** The planner / audit API or NATS could not be reached. */
  unreachable: 3,
  /** The server refused: missing or wrong token (401), not allowed (403), NATS permission denied. */
  refused: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command with a message and a specific exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
