export {
  type Disposition,
  dispositionOf,
  ERROR_CODE_PATTERN,
  FlotillaError,
  type FlotillaErrorOptions,
  isErrorCode,
  isFlotillaError,
  messageOf,
  retryable,
  stalled,
  waiting,
} from './flotilla-error.ts';
