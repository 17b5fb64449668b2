import { startNotifier } from './notifier.ts';

const need = (name: string) => {
  const v = process.env[name];
  if (!v) {
    console.error(`webhook-notifier: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const notifier = await startNotifier({
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  natsUser: process.env.NATS_USER,
  natsPassword: process.env.NATS_PASSWORD,
  durable: process.env.DURABLE ?? process.env.NATS_USER ?? 'webhook-notifier',
  events: (process.env.EVENTS ?? 'ApplySucceeded,ApplyFailed,PromotionAwaitingApproval').split(','),
  webhookUrl: need('WEBHOOK_URL'),
  secret: need('WEBHOOK_SECRET'),
  schemasDir: process.env.SCHEMAS_DIR,
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void notifier.stop().then(() => process.exit(0));
  });
