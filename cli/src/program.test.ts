import { describe, expect, it } from 'vitest';
import { capture } from '../test/capture-io.ts';
import { EXIT } from './exit-codes.ts';
import { runCli } from './program.ts';

describe('argument parsing and exit codes', () => {
  it.each([
    [['reject', 'p-1']],
    [['promote']],
    [['status', '--output', 'yaml']],
    [['history', '--limit', 'many']],
    [['history', '--since', 'last tuesday']],
    [['events', 'tail', '--type', 'NoSuchEvent']],
    [['events', 'tail', '--count', '0']],
    [['rollback', 'prod', '--to', 'abc']],
    [['audit', 'export', '--format', 'xml']],
    [['frobnicate']],
  ])('%j is a usage error (2)', async (args) => {
    const io = capture();
    expect(await runCli(args, io, {})).toBe(EXIT.usage);
    expect(io.errText.join('\n')).not.toBe('');
  });

  it('help exits 0', async () => {
    const io = capture();
    expect(await runCli(['--help'], io, {})).toBe(EXIT.ok);
    expect(io.outText.join('\n')).toContain('Usage: flotilla');
  });

  it('nats-auth prints the authorization block; bad cluster names are usage errors', async () => {
    const io = capture();
    expect(await runCli(['nats-auth', '--clusters', 'dev,prod-eu'], io, {})).toBe(EXIT.ok);
    expect(io.outText.join('\n')).toContain('"flotilla.v1.apply.succeeded.prod-eu"');
    expect(await runCli(['nats-auth', '--clusters', 'Prod.EU'], capture(), {})).toBe(EXIT.usage);
  });

  it('nats bootstrap checks its arguments before connecting', async () => {
    expect(await runCli(['nats', 'bootstrap', '--clusters', 'Prod.EU'], capture(), {})).toBe(EXIT.usage);
    expect(await runCli(['nats', 'bootstrap', '--clusters', 'dev', '--replicas', '9'], capture(), {})).toBe(
      EXIT.usage,
    );
  });
});
