// Watches the config file and hands every valid new version on as a whole Config. Watching the
// directory (not the file) survives editors that replace files and Kubernetes ConfigMap volumes,
// which swap a symlink.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config/config.ts';
import { parseConfig } from '../config/load.ts';
import { ConfigError, formatIssue } from '../errors.ts';

export interface ConfigFileEvents {
  config: (config: Config) => void;
  invalid: (message: string) => void;
}

export class ConfigFileSource {
  private readonly file: string;
  private readonly events: ConfigFileEvents;
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(file: string, initialText: string | undefined, events: ConfigFileEvents) {
    this.file = file;
    this.lastText = initialText;
    this.events = events;
  }

  start(): void {
    this.watcher = watch(dirname(this.file), { persistent: false }, () => {
      clearTimeout(this.debounce);
      // Editors write in bursts (truncate, write, rename): read once they are done.
      this.debounce = setTimeout(() => { void this.reload(false); }, 50);
    });
    this.watcher.on('error', () => {});
  }

  /** Re-reads the file. `force`: apply even when the text is unchanged (SIGHUP). */
  reload(force: boolean): Promise<void> {
    this.reading = this.reading.then(() => this.read(force));
    return this.reading;
  }

  stop(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }

  private async read(force: boolean): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      // Mid-replace the file can be missing for a moment; a later event brings it back.
      if (!force && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.events.invalid(`${this.file}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? err})`);
      return;
    }
    if (!force && text === this.lastText) return;
    this.lastText = text;
    try {
      this.events.config(parseConfig(text, this.file));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.events.invalid(err.issues.map(formatIssue).join('; '));
    }
  }
}
