// Debian's Chromium, driven by playwright-core. Missing Chromium is an error, never a skip:
// `.ci/run` installs it (apt-get install -y chromium).

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

/** $CHROMIUM_PATH, else the first Chromium on PATH. */
export function chromiumPath(): string {
  const given = process.env.CHROMIUM_PATH;
  if (given) return given;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of NAMES) {
      const file = join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  throw new Error('Chromium is not installed: the status page test needs a real browser. '
    + 'Install it with `apt-get update && apt-get install -y chromium` (Debian), or set CHROMIUM_PATH.');
}

export function launchChromium(): Promise<Browser> {
  // playwright-core adds --no-sandbox (needed as root in containers) since chromiumSandbox is off by default.
  return chromium.launch({ executablePath: chromiumPath(), headless: true });
}
