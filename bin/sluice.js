#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping); nothing to build.
import { main } from '../src/cli.ts';

await main(process.argv.slice(2));
