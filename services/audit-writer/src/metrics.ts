import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface AuditMetrics {
  records: Counter<'type'>;
  duplicates: Counter;
  commits: Counter;
  commitFailures: Counter;
  batchRecords: Histogram;
  commitSeconds: Histogram;
  lastSeq: Gauge;
  leader: Gauge;
  pushLagRecords: Gauge;
  pushLagSeconds: Gauge;
  pushes: Counter<'outcome'>;
  notesPending: Gauge;
  notes: Counter<'outcome'>;
  checkpointPublishes: Counter<'outcome'>;
  stalled: Gauge;
  gaps: Counter<'reason'>;
  backlogMessages: Gauge;
  streamUsageRatio: Gauge;
  backlogAgeRatio: Gauge;
}

export function auditMetrics(
  registry: Registry,
  lag: () => { records: number; seconds: number },
): AuditMetrics {
  return {
    records: new Counter({
      name: 'flotilla_audit_records_total',
      help: 'Audit records committed, by event type',
      labelNames: ['type'],
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'flotilla_audit_duplicates_total',
      help: 'Redelivered events that were already recorded (no second record)',
      registers: [registry],
    }),
    commits: new Counter({
      name: 'flotilla_audit_commits_total',
      help: 'Audit batch commits',
      registers: [registry],
    }),
    commitFailures: new Counter({
      name: 'flotilla_audit_commit_failures_total',
      help: 'Audit batch commits that failed (events are redelivered)',
      registers: [registry],
    }),
    batchRecords: new Histogram({
      name: 'flotilla_audit_batch_records',
      help: 'Records per audit commit',
      buckets: [1, 5, 20, 50, 100, 250, 500, 1000, 2000],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'flotilla_audit_commit_seconds',
      help: 'Time to write and commit one batch (fsync included)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    lastSeq: new Gauge({
      name: 'flotilla_audit_last_seq',
      help: 'seq of the newest committed audit record',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'flotilla_audit_leader',
      help: '1 while this instance is the active writer of its audit repo',
      registers: [registry],
    }),
    pushLagRecords: new Gauge({
      name: 'flotilla_audit_push_lag_records',
      help: 'Audit records committed locally but not yet pushed to the remote',
      registers: [registry],
      collect() {
        this.set(lag().records);
      },
    }),
    pushLagSeconds: new Gauge({
      name: 'flotilla_audit_push_lag_seconds',
      help: 'Age of the oldest audit commit not yet pushed (0 when the remote is up to date)',
      registers: [registry],
      collect() {
        this.set(lag().seconds);
      },
    }),
    pushes: new Counter({
      name: 'flotilla_audit_pushes_total',
      help: 'Pushes of the audit repo, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    notesPending: new Gauge({
      name: 'flotilla_audit_notes_pending',
      help: 'Config commits whose git note is waiting to be written or pushed',
      registers: [registry],
    }),
    notes: new Counter({
      name: 'flotilla_audit_notes_total',
      help: 'Git note updates on the config repo, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    checkpointPublishes: new Counter({
      name: 'flotilla_audit_checkpoint_publishes_total',
      help: 'Signed checkpoints published to the checkpoint stream, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    stalled: new Gauge({
      name: 'flotilla_audit_write_stalled',
      help: '1 while the writer cannot commit (disk full, git failing): it holds its events unacked and takes no more',
      registers: [registry],
    }),
    gaps: new Counter({
      name: 'flotilla_audit_gap_events_total',
      help: 'Stream sequences the audit log will never hold (each range also becomes an AuditGapDetected record)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    backlogMessages: new Gauge({
      name: 'flotilla_audit_backlog_messages',
      help: 'Events in the stream the writer has not recorded yet (pending + in flight)',
      registers: [registry],
    }),
    streamUsageRatio: new Gauge({
      name: 'flotilla_audit_stream_usage_ratio',
      help: 'Share of the event stream byte/message limit in use; past 1 the stream discards the oldest events',
      registers: [registry],
    }),
    backlogAgeRatio: new Gauge({
      name: 'flotilla_audit_backlog_age_ratio',
      help: "Age of the oldest unrecorded event as a share of the stream's max age; at 1 it is discarded",
      registers: [registry],
    }),
  };
}
