// argv → config → start → exit code. 0: clean shutdown; 1: runtime failure; 2: bad config or usage.

import { readFileSync } from 'node:fs';
import type { LevelWithSilent, Logger } from 'pino';
import { loadConfigFile } from './config/load.ts';
import { formatDuration } from './config/duration.ts';
import { Demo } from './demo/demo.ts';
import { SluiceError, UsageError } from './errors.ts';
import { createLogger, LOG_LEVELS } from './log.ts';
import { Sluice } from './sluice.ts';

const HELP = `sluice: an HTTP load balancer for Kubernetes and beyond

Usage:
  sluice [run] [--config FILE]     run the balancer (default config: ./config.yaml)
  sluice validate [--config FILE]  check a config file; exit 0, or 2 listing every problem
  sluice demo                      three demo backends and sluice in front, all on 127.0.0.1 (:8080, admin :9901)

Options:
  -c, --config FILE      config file (default ./config.yaml)
      --log-level LEVEL  trace, debug, info (default), warn, error, fatal or silent
      --kubeconfig FILE  kubeconfig for discovery.kubernetes outside a cluster
      --context NAME     kubeconfig context to use
  -h, --help             show this help
  -v, --version          print the version

Signals: SIGHUP reloads the config; SIGTERM/SIGINT drain in-flight requests and exit 0.
Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad config or usage.
`;

interface Args {
  command: 'run' | 'validate' | 'demo' | 'help' | 'version';
  config: string;
  logLevel: LevelWithSilent;
  kubeconfig?: string;
  context?: string;
}

export function parseArgs(argv: string[]): Args {
  const args: Args = { command: 'run', config: 'config.yaml', logLevel: 'info' };
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined || next.startsWith('-')) throw new UsageError(`${flag} needs a value; see sluice --help`);
      return next;
    };
    switch (flag) {
      case '-h': case '--help': args.command = 'help'; return args;
      case '-v': case '--version': args.command = 'version'; return args;
      case '-c': case '--config': args.config = value(); break;
      case '--kubeconfig': args.kubeconfig = value(); break;
      case '--context': args.context = value(); break;
      case '--log-level': {
        const level = value();
        if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
        args.logLevel = level as LevelWithSilent;
        break;
      }
      default:
        if (arg.startsWith('-')) throw new UsageError(`unknown option ${flag}; see sluice --help`);
        if (commandSeen) throw new UsageError(`unexpected argument "${arg}"; see sluice --help`);
        if (arg !== 'run' && arg !== 'validate' && arg !== 'demo') throw new UsageError(`unknown command "${arg}"; commands are run, validate and demo`);
        args.command = arg;
        commandSeen = true;
    }
  }
  return args;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function run(args: Args): Promise<number> {
  switch (args.command) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'version':
      process.stdout.write(`sluice ${version()} (node ${process.version})\n`);
      return 0;
    case 'validate': {
      const config = loadConfigFile(args.config);
      const k8s = config.discovery.kubernetes;
      process.stdout.write(`${config.file} is valid: ${config.backends.length} static backend(s)${k8s ? `, Kubernetes service ${k8s.service}` : ''}, `
        + `listen ${config.listen.text}, admin ${config.admin.listen.text}, health checks ${config.healthCheck.path} every ${formatDuration(config.healthCheck.intervalMs)}\n`);
      return 0;
    }
    case 'demo': {
      const log = createLogger(args.logLevel);
      const demo = new Demo(log);
      await demo.start();
      return untilSignal(log, (reason) => demo.stop(reason), undefined);
    }
    case 'run': {
      const config = loadConfigFile(args.config);
      const log = createLogger(args.logLevel);
      const sluice = new Sluice(config, log, {
        configText: readFileSync(config.file, 'utf8'),
        watchConfig: true,
        discovery: { kubeconfig: args.kubeconfig, context: args.context },
      });
      await sluice.start();
      log.info({ version: version(), config: config.file, backends: config.backends.length }, 'sluice started');
      return untilSignal(log, (reason) => sluice.shutdown(reason), () => sluice.reload());
    }
  }
}

/** Resolves with the exit code once a SIGTERM/SIGINT-triggered shutdown has finished. */
function untilSignal(log: Logger, stop: (reason: string) => Promise<void>, reload: (() => Promise<void>) | undefined): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      stop(signal).then(() => resolve(0), (err) => {
        log.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading config');
      void reload?.();
    });
  });
}

export async function main(argv: string[]): Promise<void> {
  let code: number;
  try {
    code = await run(parseArgs(argv));
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err;
    process.stderr.write(`sluice: ${err.message}\n`);
    code = err.exitCode;
  }
  process.exit(code);
}

if (import.meta.main) await main(process.argv.slice(2));
