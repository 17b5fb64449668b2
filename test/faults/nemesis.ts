/**
 * Runs a fault on a schedule: wait `everyMs`, inject (the fault itself waits for its recovery),
 * repeat until stopped. Faults never overlap, and stop() waits for the one in progress to heal.
 */
export class Nemesis {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  readonly errors: string[] = [];

  constructor(
    private readonly inject: () => Promise<void>,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, this.everyMs);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        if (!this.running) break;
        try {
          await this.inject();
        } catch (err) {
          this.errors.push((err as Error).message);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }
}
