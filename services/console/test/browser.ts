import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** The system Chromium (Debian `chromium`), or undefined: browser tests are optional without it. */
export const chromiumPath: string | undefined = [
  process.env.FLOTILLA_CHROMIUM,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
].find((p): p is string => !!p && existsSync(p));

export async function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error('no chromium: apt-get install chromium (scripts/setup.sh does)');
  // --no-sandbox: the machines here run tests as root, where Chromium's sandbox cannot start.
  return await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
