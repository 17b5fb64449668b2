import type { FlotillaEvent } from '@flotilla/events';

/** Events seen on the bus during a test, with waiting by type and predicate. */
export class EventCollector {
  readonly events: FlotillaEvent[] = [];
  /** Messages on event subjects that did not decode: a bug in whoever sent them, never skipped. */
  readonly undecodable: Array<{ subject: string; error: string }> = [];
  private waiters: Array<() => void> = [];

  push(e: FlotillaEvent): void {
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Records a message that is not a valid event; every later wait() fails with it. */
  reject(subject: string, err: unknown): void {
    this.undecodable.push({ subject, error: err instanceof Error ? err.message : String(err) });
    for (const w of this.waiters.splice(0)) w();
  }

  of<D = Record<string, unknown>>(
    type: { type: string },
    pred: (d: D) => boolean = () => true,
  ): FlotillaEvent<D>[] {
    return this.events.filter((e) => e.type === type.type && pred(e.data as D)) as FlotillaEvent<D>[];
  }

  async wait<D = Record<string, unknown>>(
    type: { type: string; name?: string },
    pred: (d: D) => boolean = () => true,
    timeoutMs = 60_000,
  ): Promise<FlotillaEvent<D>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.undecodable.length > 0)
        throw new Error(`undecodable messages on the bus: ${JSON.stringify(this.undecodable)}`);
      const found = this.of<D>(type, pred)[0];
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${type.name ?? type.type}; saw ${this.summary()}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 250);
      });
    }
  }

  /** `domain.event(code|status)` per event seen, for failure messages. */
  summary(): string {
    return this.events
      .map((e) => {
        const d = e.data as { code?: string; status?: string };
        return `${e.type.split('.').slice(2, 4).join('.')}(${d.code ?? d.status ?? ''})`;
      })
      .join(', ');
  }
}
