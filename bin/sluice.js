#!/usr/bin/env -S node --max-semi-space-size=16
// The `sluice` command. Plain JavaScript that any Node with ES modules can parse (no top-level
// await), so an old Node gets one
// sentence instead of a stack trace; nothing else is loaded until the version is checked.
//
// --max-semi-space-size: under sustained load V8 doubles the young generation whenever a
// scavenge finds in-flight requests alive, up to 128 MB of RSS that buys a proxy little (its
// per-request garbage dies young anyway). The limit is read only at start-up, so it is on the
// shebang line above (an installed `sluice`), in the image's ENTRYPOINT, and, when this file is
// started as `node bin/sluice.js`, added by replacing this process with itself (execve: same
// pid, no second process).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REQUIRED = [24, 11, 0];
export const SEMI_SPACE_FLAG = '--max-semi-space-size=16';

const found = process.versions.node.split('.').map(Number);
const tooOld = found[0] !== REQUIRED[0] ? found[0] < REQUIRED[0]
  : found[1] !== REQUIRED[1] ? found[1] < REQUIRED[1] : found[2] < REQUIRED[2];
if (tooOld) {
  process.stderr.write(`sluice: needs Node.js ${REQUIRED.join('.')} or newer, but this is Node.js ${process.versions.node} (${process.execPath}).\n`);
  process.exit(2);
}

const script = fileURLToPath(import.meta.url);
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, SEMI_SPACE_FLAG, ...process.execArgv, script, ...process.argv.slice(2)]);
}

// A checkout runs the TypeScript sources (Node strips the types); the published package and the
// image ship only the compiled dist/ (Node will not strip types under node_modules).
const fromSource = existsSync(new URL('../src/cli.ts', import.meta.url));
import(fromSource ? '../src/cli.ts' : '../dist/cli.js').then((cli) => cli.main(process.argv.slice(2)));
