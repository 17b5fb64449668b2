// The demo: see scripts/demo.sh. Everything runs locally and is removed on exit (logs are kept).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type FlotillaStack, programArgs, startFlotillaStack } from '@flotilla/test-support';
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
  stack = await startFlotillaStack({ logDir, onProgress: say, console: true });
  say(`up: planner ${stack.plannerUrl}, audit ${stack.auditUrl}, NATS ${stack.nats.url}`);
  say(
    `web console: ${stack.consoleUrl}  (sign in with alice's token ${stack.tokens.approver} or bob's ${stack.tokens.viewer})`,
  );
  for (const [name, s] of stack.services) say(`  ${name.padEnd(18)} log: ${s.logFile}`);

  const nc = await connect({ servers: stack.nats.url });
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
  const digest = await pushRelease(stack, '1.4.7');
  say(`pushed ${digest}`);
  for (const cluster of ['dev', 'test', 'uat']) {
    await waitForDigest(stack, cluster, digest);
    say(`✔ ${cluster} runs web 1.4.7@${digest.slice(7, 19)} and is Available`);
  }
  const promotion = await waitForAwaitingApproval(stack, 'prod', digest);
  say(`⏸ prod waits for approval: promotion ${promotion.id}`);
  const refused = await approve(stack, promotion.id, stack.tokens.viewer);
  say(`  bob (not an approver) tries to approve → HTTP ${refused.status}, recorded`);
  const approved = await approve(stack, promotion.id, stack.tokens.approver);
  say(`  alice (release-managers) approves → HTTP ${approved.status}`);
  await waitForDigest(stack, 'prod', digest);
  say(`✔ prod runs web 1.4.7@${digest.slice(7, 19)} and is Available`);
  await new Promise((r) => setTimeout(r, 2000));
  sub.unsubscribe();
  await nc.drain();

  const urls = stack;
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, programArgs('cli', ...args), {
      encoding: 'utf8',
      env: {
        ...process.env,
        FLOTILLA_PLANNER_URL: urls.plannerUrl,
        FLOTILLA_AUDIT_URL: urls.auditUrl,
        FLOTILLA_NATS_URL: urls.nats.url,
        FLOTILLA_TOKEN: urls.tokens.approver,
      },
    });
  console.log(`\n$ flotilla status\n${cli('status')}`);
  console.log(`$ flotilla audit verify\n${cli('audit', 'verify')}`);
  console.log(`$ flotilla audit export --format csv\n${cli('audit', 'export', '--format', 'csv')}`);
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
