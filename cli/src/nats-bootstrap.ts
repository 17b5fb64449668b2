import { type ProvisionStep, provisionNats } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsOptions } from './events-tail.ts';
import { CliError, EXIT } from './exit-codes.ts';
import type { Io } from './io.ts';
import { flotillaDeclarations, type InstallShape } from './nats-declarations.ts';

export interface BootstrapOptions extends InstallShape {
  nats: NatsOptions;
  /** Replicas for the stream, buckets and object stores (3 on the shipped 3-node NATS). */
  replicas?: number;
}

/**
 * `flotilla nats bootstrap`: creates, with the admin identity, everything every service
 * declares (`natsResources`), and brings drifted consumers back to their declaration. Safe to
 * run on every install and upgrade: a second run reports everything unchanged.
 */
export async function bootstrapNats(o: BootstrapOptions, io: Io): Promise<ProvisionStep[]> {
  const declarations = flotillaDeclarations(o);
  const nc = await connectNats(o.nats);
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const replicas = o.replicas ?? 1;
    const steps = await provisionNats(jsm, declarations, { replicas, stream: { replicas } });
    for (const s of steps)
      io.out(`${s.outcome.padEnd(9)} ${s.kind.padEnd(12)} ${s.name}${s.detail ? ` (${s.detail})` : ''}`);
    return steps;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const msg = messageOf(err);
    throw new CliError(
      `bootstrap failed: ${msg}${/permission/i.test(msg) ? ' (run it as the admin identity: --nats-user admin)' : ''}`,
      /permission/i.test(msg) ? EXIT.refused : EXIT.failure,
    );
  } finally {
    await nc.close();
  }
}
