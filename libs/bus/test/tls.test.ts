import { connect as tcpConnect } from 'node:net';
import { ImageTagDetected } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import {
  createTestCa,
  type NatsServer,
  natsTlsConfig,
  rawNats,
  startNats,
  type TestCa,
} from '@flotilla/test-support';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, natsOptions } from '../src/index.ts';

let ca: TestCa;
let otherCa: TestCa;
let tls: NatsServer;
let mtls: NatsServer;
const buses: Bus[] = [];

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createTestCa('flotilla'), createTestCa('impostor')]);
  const server = await ca.issue('nats', 'server');
  [tls, mtls] = await Promise.all([
    startNats({ extraConfig: natsTlsConfig({ cert: server, caFile: ca.caFile }) }),
    startNats({ extraConfig: natsTlsConfig({ cert: server, caFile: ca.caFile, verify: true }) }),
  ]);
});
afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await Promise.all([tls?.dispose(), mtls?.dispose()]);
});

/** One connection attempt, no retries: resolves with the refusal, fails if it connects. */
async function refusedConnect(url: string, tlsOptions?: Record<string, string>): Promise<string> {
  try {
    const nc = await connect({
      servers: url,
      reconnect: false,
      timeout: 3000,
      ...(tlsOptions ? { tls: tlsOptions } : {}),
    });
    await nc.close();
  } catch (err) {
    return String((err as Error).message);
  }
  throw new Error('expected the connection to be refused');
}

describe('NATS over TLS (certificates from a test CA, verified)', () => {
  it('a service connects with the CA it trusts and publishes; the config path carries the TLS settings', async () => {
    const bus = await Bus.connect({
      ...natsOptions({ servers: [tls.url], tls: { caFile: ca.caFile } }),
      service: 'registry-watcher',
      instance: 'tls',
      ensureStream: true,
    });
    buses.push(bus);
    const { seq } = await bus.publish(ImageTagDetected, samples.ImageTagDetected);
    expect(seq).toBeGreaterThan(0);
    expect(rawNats(bus).nc.info?.tls_required).toBe(true);
  });

  it('refuses a plaintext client, and a client that trusts another CA', async () => {
    // A client speaking plain NATS: the server answers its CONNECT with an error, never a PONG.
    const port = Number(new URL(tls.url).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(port, '127.0.0.1');
      let text = '';
      let sent = false;
      const t = setTimeout(() => reject(new Error(`no refusal; got ${JSON.stringify(text)}`)), 5000);
      socket.on('data', (d) => {
        text += String(d);
        if (!sent && text.startsWith('INFO ') && text.includes('\r\n')) {
          sent = true;
          socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
        }
      });
      socket.on('close', () => {
        clearTimeout(t);
        resolve(text);
      });
      socket.on('error', () => undefined);
    });
    expect(answer).toContain('"tls_required":true');
    expect(answer).not.toContain('PONG');
    // nats.js upgrades to TLS when the server requires it, and verifies the certificate: a client
    // without the install's CA (system roots only, or another CA) is refused by its own check.
    expect(await refusedConnect(tls.url)).toMatch(/certificate/i);
    expect(await refusedConnect(tls.url, { caFile: otherCa.caFile })).toMatch(
      /certificate|self.signed|verify/i,
    );
  });

  it('mutual TLS: a client without a certificate, or with one from another CA, is refused', async () => {
    const client = await ca.issue('planner', 'client');
    const impostor = await otherCa.issue('planner', 'client');
    const nc = await connect({
      servers: mtls.url,
      reconnect: false,
      tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile },
    });
    expect(nc.info?.tls_verify).toBe(true);
    await nc.close();
    expect(await refusedConnect(mtls.url, { caFile: ca.caFile })).not.toBe('');
    expect(
      await refusedConnect(mtls.url, {
        caFile: ca.caFile,
        certFile: impostor.certFile,
        keyFile: impostor.keyFile,
      }),
    ).not.toBe('');
  });
});
