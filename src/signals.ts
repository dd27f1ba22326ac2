// Process signals, handled from the first line of start-up: a SIGTERM while discovery is still
// starting stops sluice cleanly, a SIGHUP then is applied once start-up is done, and neither kills
// the process with Node's default action.

import type { Logger } from 'pino';

export class Signals {
  /** Resolves with the first SIGTERM or SIGINT. */
  readonly stopped: Promise<NodeJS.Signals>;
  private stopSignal: NodeJS.Signals | undefined;
  private reloadPending = false;
  private reload: (() => Promise<void>) | undefined;
  private log: Logger | undefined;

  constructor() {
    let resolveStopped: (signal: NodeJS.Signals) => void = () => {};
    this.stopped = new Promise((resolve) => { resolveStopped = resolve; });
    const onStop = (signal: NodeJS.Signals): void => {
      if (this.stopSignal !== undefined) {
        if (this.log) this.log.warn({ signal }, 'second signal: exiting now');
        else process.stderr.write(`sluice: second ${signal}: exiting now\n`);
        process.exit(1);
      }
      this.stopSignal = signal;
      resolveStopped(signal);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => {
      if (this.reload === undefined) {
        this.reloadPending = true;
        this.log?.info('SIGHUP during start-up: reloading once started');
        return;
      }
      this.log?.info('SIGHUP: reloading config');
      void this.reload();
    });
  }

  /** From here on log through `log`; a SIGHUP calls `reload` (at once if one arrived before). */
  ready(log: Logger, reload: (() => Promise<void>) | undefined): void {
    this.log = log;
    this.reload = reload ?? (() => Promise.resolve());
    if (this.reloadPending) {
      this.reloadPending = false;
      log.info('SIGHUP: reloading config');
      void this.reload();
    }
  }

  setLogger(log: Logger): void {
    this.log = log;
  }
}

/**
 * Starts, then waits for SIGTERM/SIGINT and stops; a stop signal during start-up stops at once.
 * Resolves with the exit code.
 */
export async function runUntilStopped(signals: Signals, log: Logger, start: Promise<void>, stop: (reason: string) => Promise<void>, reload?: () => Promise<void>): Promise<number> {
  signals.setLogger(log);
  const early = await Promise.race([start.then(() => undefined), signals.stopped]);
  if (early !== undefined) {
    start.catch(() => {}); // start-up is abandoned; what it opened is closed by stop()
    log.info({ signal: early }, 'stop signal during start-up');
  } else {
    signals.ready(log, reload);
  }
  const signal = early ?? await signals.stopped;
  try {
    await stop(signal);
    return 0;
  } catch (err) {
    log.error({ err }, 'shutdown failed');
    return 1;
  }
}
