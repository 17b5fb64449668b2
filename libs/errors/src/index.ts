export {
  type Disposition,
  dispositionOf,
  FlotillaError,
  type FlotillaErrorOptions,
  isFlotillaError,
  messageOf,
  retryable,
  stalled,
  waiting,
} from './flotilla-error.ts';
