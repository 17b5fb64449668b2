import { createLogger } from '@flotilla/runtime';
import { startNats } from '@flotilla/test-support';
import { startConsole } from '../src/service.ts';
import { launchChromium } from './browser.ts';

const nats = await startNats();
const c = await startConsole(
  {
    instance: 'x',
    nats: { servers: [nats.url] },
    http: { port: 0, host: '127.0.0.1' },
    planner: { url: 'http://127.0.0.1:1', timeoutMs: 1000 },
    audit: { url: 'http://127.0.0.1:1', timeoutMs: 1000 },
    session: { ttlMinutes: 10, secureCookie: false },
    heartbeatMs: 15000,
  } as never,
  createLogger({ service: 'console', level: 'warn' }),
);
try {
  const browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('console', (m) => console.log('PAGE', m.type(), m.text()));
  page.on('pageerror', (e) => console.log('PAGEERROR', e.message));
  await page.goto(c.url);
  await page.getByLabel('API token').fill('some-token-123456');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  console.log('ALERT', await page.getByRole('alert').textContent());
  await page.screenshot({ path: '/tmp/console-signin.png' });
  await browser.close();
} finally {
  await c.stop();
  await nats.dispose();
}
