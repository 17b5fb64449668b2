/**
 * Runs async tasks one after another, in submission order: whatever must not interleave (git
 * operations on one repository, the planner's decisions, one cluster's applies) goes through one.
 * A failed task does not stop the ones queued after it; its caller gets the error.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    this.queued++;
    const done = () => {
      this.queued--;
    };
    const result = this.tail.then(task, task);
    result.then(done, done);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.queued;
  }

  /** Resolves once everything queued so far has finished. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
