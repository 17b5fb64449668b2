import type { Io } from './io.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A spinner on a terminal; on a pipe or in CI, one plain line each time the message changes
 * (so logs show the rollout's steps without a line per tick).
 */
export class Progress {
  private frame = 0;
  private last = '';
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private message = '';

  constructor(private readonly io: Io) {}

  start(message: string): void {
    this.update(message);
    if (this.io.interactive) this.timer = setInterval(() => this.draw(), 100);
  }

  update(message: string): void {
    this.message = message;
    if (this.io.interactive) this.draw();
    else if (message !== this.last) this.io.status(`… ${message}`);
    this.last = message;
  }

  private draw(): void {
    const secs = Math.round((Date.now() - this.started) / 1000);
    this.io.progress(`${FRAMES[this.frame++ % FRAMES.length]} ${this.message} (${secs}s)`);
  }

  stop(final?: string): void {
    clearInterval(this.timer);
    this.io.progressDone();
    if (final) this.io.status(final);
  }
}
