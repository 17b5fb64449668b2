export {
  Backoff,
  type BackoffPolicy,
  backoffDelay,
  backoffStep,
  parseRetryAfter,
  retryDelay,
} from './backoff.ts';
export {
  type CheckFailure,
  carryAttempts,
  PollLoop,
  type PollLoopOptions,
  pollDelayMs,
  type Trigger,
  toCheckFailure,
} from './poll-loop.ts';
export { RetryLoop, type RetryLoopOptions } from './retry-loop.ts';
export { Semaphore } from './semaphore.ts';
export { SerialQueue } from './serial-queue.ts';
