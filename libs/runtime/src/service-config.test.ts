import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { serviceConfigFields } from './service-config.ts';

const Schema = Type.Object({ ...serviceConfigFields(8080) });

describe('service config: NATS TLS', () => {
  it('comes from the environment as nats.tls, and is absent unless asked for', () => {
    const withTls = loadConfig(Schema, {
      env: {
        FLOTILLA_NATS_TLS_CA_FILE: '/etc/flotilla/nats/ca.pem',
        FLOTILLA_NATS_TLS_CERT_FILE: '/etc/flotilla/nats/tls.crt',
        FLOTILLA_NATS_TLS_KEY_FILE: '/etc/flotilla/nats/tls.key',
      },
    });
    expect(withTls.nats.tls).toEqual({
      caFile: '/etc/flotilla/nats/ca.pem',
      certFile: '/etc/flotilla/nats/tls.crt',
      keyFile: '/etc/flotilla/nats/tls.key',
    });
    expect(loadConfig(Schema, { env: {} }).nats.tls).toBeUndefined();
  });
});
