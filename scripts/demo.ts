// The demo: see scripts/demo.sh. Everything runs locally and is removed on exit (logs are kept).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type FlotillaStack, programArgs, startFlotillaStack, waitFor } from '@flotilla/test-support';
import { connect } from '@nats-io/transport-node';
import { approve, pushRelease, waitForAwaitingApproval, waitForDigest } from '../test/e2e/story.ts';

const ci = process.argv.includes('--ci') || !process.stdin.isTTY;
const started = Date.now();
const logDir = join(process.cwd(), '.demo-logs', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(logDir, { recursive: true });
const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const say = (line: string) => console.log(`${t()}  ${line}`);

let stack: FlotillaStack | undefined;
let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping everything…');
  await stack?.stop();
  say(`done. service logs: ${logDir}`);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

function cli(s: FlotillaStack, ...args: string[]): string {
  return execFileSync(process.execPath, programArgs('cli', ...args), {
    encoding: 'utf8',
    env: {
      ...process.env,
      FLOTILLA_PLANNER_URL: s.plannerUrl,
      FLOTILLA_AUDIT_URL: s.auditUrl,
      FLOTILLA_NATS_URL: s.nats.url,
      FLOTILLA_TOKEN: s.tokens.approver,
    },
  });
}

/** A row of the production-change export (the fields the summary shows). */
interface ChangeRow {
  changeId: string;
  changeType: string;
  configCommit: string;
  images?: string[];
  approvers?: string[];
  approverIsNotAuthor?: boolean;
  applyResult?: string;
  health?: string;
}
const prodChanges = (s: FlotillaStack) =>
  (JSON.parse(cli(s, 'audit', 'export')) as { changes: ChangeRow[] }).changes;
const isProdPromotionDone = (digest: string) => (r: ChangeRow) =>
  r.changeType === 'promotion' &&
  r.applyResult === 'succeeded' &&
  r.health === 'Current' &&
  (r.images ?? []).some((i) => i.endsWith(digest));

function describe(subject: string, data: Record<string, unknown>): string {
  const [, , domain, event] = subject.split('.');
  const bits = ['cluster', 'stage', 'toStage', 'tag', 'status', 'approver', 'by', 'code']
    .filter((k) => data[k] !== undefined)
    .map((k) => `${k}=${String(data[k])}`);
  const sha = (data.revision ?? data.sha ?? data.commit) as string | undefined;
  if (sha) bits.push(`rev=${sha.slice(0, 8)}`);
  return `${domain}.${event} ${bits.join(' ')}`;
}

try {
  stack = await startFlotillaStack({
    logDir,
    onProgress: say,
    console: true,
    sealBundles: true,
    // NATS over mutual TLS, as an install runs it: the event tail below needs the client certificate too.
    tls: true,
  });
  say(`up: planner ${stack.plannerUrl}, audit ${stack.auditUrl}, NATS ${stack.nats.url}`);
  say(
    `web console: ${stack.consoleUrl}  (sign in with alice's token ${stack.tokens.approver} or bob's ${stack.tokens.viewer})`,
  );
  for (const [name, s] of stack.services) say(`  ${name.padEnd(18)} log: ${s.logFile}`);

  const nc = await connect({ servers: stack.nats.url, ...(stack.natsTls ? { tls: stack.natsTls } : {}) });
  const sub = nc.subscribe('flotilla.v1.>');
  void (async () => {
    for await (const m of sub) {
      try {
        const e = m.json<{ data: Record<string, unknown> }>();
        say(`  event ${describe(m.subject, e.data)}`);
      } catch {}
    }
  })();

  say('pushing shop/web:1.4.7 to the registry (built once; promoted by digest from here on)');
  const pushedAt = Date.now();
  const digest = await pushRelease(stack, '1.4.7');
  const short = digest.slice(7, 19);
  say(`pushed ${digest}`);
  const running: Array<{ stage: string; after: number; how: string }> = [];
  const how = {
    dev: 'image update committed by the planner',
    test: 'auto, dev healthy 1 s',
    uat: 'auto, test healthy 1 s',
  };
  for (const cluster of ['dev', 'test', 'uat'] as const) {
    await waitForDigest(stack, cluster, digest);
    running.push({ stage: cluster, after: Date.now() - pushedAt, how: how[cluster] });
    say(`✔ ${cluster} runs web 1.4.7@${short} and is Available`);
  }
  const promotion = await waitForAwaitingApproval(stack, 'prod', digest);
  say(`⏸ prod waits for approval: promotion ${promotion.id}`);
  const refused = await approve(stack, promotion.id, stack.tokens.viewer);
  const refusal = (refused.body as { message?: string }).message ?? '';
  say(`  bob (read-only) tries to approve → HTTP ${refused.status}: ${refusal}`);
  if (refused.status !== 403) throw new Error(`bob's approval should be refused, got HTTP ${refused.status}`);
  // alice wrote none of what the promotion carries (the planner committed the image update), so
  // separation of duties lets her approve it.
  const approved = await approve(stack, promotion.id, stack.tokens.approver);
  say(`  alice (release-managers, not an author of the change) approves → HTTP ${approved.status}`);
  if (approved.status !== 200)
    throw new Error(
      `alice's approval should be accepted, got HTTP ${approved.status}: ${JSON.stringify(approved.body)}`,
    );
  await waitForDigest(stack, 'prod', digest);
  running.push({ stage: 'prod', after: Date.now() - pushedAt, how: 'approved by alice; bob was refused' });
  say(`✔ prod runs web 1.4.7@${short} and is Available`);
  // Let the audit-writer take in the last health events before the CLI reads the log.
  const up = stack;
  await waitFor(
    'the audit log to record prod healthy on the new image',
    async () => (prodChanges(up).some(isProdPromotionDone(digest)) ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  sub.unsubscribe();
  await nc.drain();

  console.log(`\n$ flotilla status\n${cli(stack, 'status')}`);
  console.log(`$ flotilla audit verify\n${cli(stack, 'audit', 'verify')}`);
  console.log('$ flotilla audit export   (production changes, abridged)');
  for (const row of prodChanges(stack))
    console.log(
      `  ${row.changeId}  ${row.changeType.padEnd(9)} commit ${row.configCommit.slice(0, 12)}  approvers ${row.approvers?.join(',') || '-'}  approver≠author ${row.approverIsNotAuthor ?? '-'}  apply ${row.applyResult ?? '-'}  health ${row.health ?? '-'}`,
    );

  console.log(
    `\nRollout of web 1.4.7 (sha256:${short}…), one digest from dev to prod, NATS over mutual TLS, bundles sealed per cluster:`,
  );
  for (const r of running)
    console.log(
      `  ${r.stage.padEnd(5)} running ${(r.after / 1000).toFixed(1).padStart(5)} s after the push  (${r.how})`,
    );
  console.log('');
  say(`story complete in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (ci) await shutdown(0);
  else {
    say(
      `web console: ${stack.consoleUrl}  (approver token ${stack.tokens.approver}, viewer token ${stack.tokens.viewer})`,
    );
    say(
      'everything keeps running; try the CLI and the console at the URLs above. Ctrl-C stops and cleans up.',
    );
  }
} catch (err) {
  console.error(err);
  await shutdown(1);
}
