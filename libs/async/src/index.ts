export {
  type CheckFailure,
  PollLoop,
  type PollLoopOptions,
  pollDelayMs,
  type Trigger,
  toCheckFailure,
} from './poll-loop.ts';
export { SerialQueue } from './serial-queue.ts';
