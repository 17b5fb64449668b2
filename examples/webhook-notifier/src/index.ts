export { type Notifier, type NotifierOptions, type NotifierStats, sign, startNotifier } from './notifier.ts';
export {
  DEFAULT_SCHEMAS_DIR,
  type EventSchemas,
  loadSchemas,
  resolveType,
  subjectFilterFor,
} from './schemas.ts';
