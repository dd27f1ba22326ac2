// argv → config → start → exit code. 0: clean shutdown; 1: runtime failure; 2: bad config or usage.

import { readFileSync } from 'node:fs';
import type { LevelWithSilent } from 'pino';
import { loadConfigFile } from './config/load.ts';
import { formatDuration } from './config/duration.ts';
import { Demo } from './demo/demo.ts';
import { SluiceError, UsageError } from './errors.ts';
import { createLogger, defaultLogFormat, LOG_FORMATS, LOG_LEVELS, type LogFormat } from './log.ts';
import { Signals, runUntilStopped } from './signals.ts';
import { Sluice } from './sluice.ts';
import { version } from './version.ts';

const HELP = `sluice: an HTTP load balancer for Kubernetes and beyond

Usage:
  sluice [run] [--config FILE]     run the balancer (default config: ./config.yaml)
  sluice validate [--config FILE]  check a config file; exit 0, or 2 listing every problem
  sluice demo                      three demo backends and sluice in front, all on 127.0.0.1 (:8080, admin :9901)

Options:
  -c, --config FILE      config file (default ./config.yaml)
      --log-level LEVEL  trace, debug, info (default), warn, error, fatal or silent
      --log-format FMT   json, or pretty (one short line per event; the default on a terminal)
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
  logFormat: LogFormat;
  kubeconfig?: string;
  context?: string;
}

export function parseArgs(argv: string[]): Args {
  const args: Args = { command: 'run', config: 'config.yaml', logLevel: 'info', logFormat: defaultLogFormat() };
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
      case '--log-format': {
        const format = value();
        if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, not "${format}"`);
        args.logFormat = format as LogFormat;
        break;
      }
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

async function run(args: Args, signals: Signals): Promise<number> {
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
      const hc = config.healthCheck;
      // type grpc never reads `path`: say what it asks about instead.
      const checks = hc.type === 'grpc' ? `gRPC health checks (${hc.grpcService === '' ? 'server health' : `service ${hc.grpcService}`})` : `health checks ${hc.path}`;
      process.stdout.write(`${config.file} is valid: ${config.backends.length} static backend(s)${k8s ? `, Kubernetes service ${k8s.service}` : ''}, `
        + `listen ${config.listen.text}, admin ${config.admin.listen.text}, ${checks} every ${formatDuration(hc.intervalMs)}\n`);
      return 0;
    }
    case 'demo': {
      const log = createLogger(args.logLevel, args.logFormat);
      const demo = new Demo(log);
      return runUntilStopped(signals, log, demo.start(), (reason) => demo.stop(reason));
    }
    case 'run': {
      const config = loadConfigFile(args.config);
      const log = createLogger(args.logLevel, args.logFormat);
      const sluice = new Sluice(config, log, {
        configText: readFileSync(config.file, 'utf8'),
        watchConfig: true,
        logFormat: args.logFormat,
        discovery: { kubeconfig: args.kubeconfig, context: args.context },
      });
      const started = sluice.start().then(() => {
        log.info({ version: version(), config: config.file, backends: config.backends.length }, 'sluice started');
      });
      return runUntilStopped(signals, log, started, (reason) => sluice.shutdown(reason), () => sluice.reload());
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  const signals = new Signals();
  let code: number;
  try {
    code = await run(parseArgs(argv), signals);
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err;
    process.stderr.write(`sluice: ${err.message}\n`);
    code = err.exitCode;
  }
  await stdoutDrained(STDOUT_DRAIN_MS);
  process.exit(code);
}

/** How long log lines still queued for a slow stdout (a pipe) may hold up the exit. */
const STDOUT_DRAIN_MS = 3000;

/** process.exit() drops what stdout has not written yet: a pipe nobody reads fast enough loses the last lines. */
async function stdoutDrained(deadlineMs: number): Promise<void> {
  if (process.stdout.writableLength === 0) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, deadlineMs);
    process.stdout.once('drain', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

if (import.meta.main) await main(process.argv.slice(2));
