// Errors a user can cause carry a stable `code` and a one-sentence message; the CLI prints
// the message and exits with `exitCode`, never a stack trace.

export class SluiceError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 1) {
    super(message);
    this.name = 'SluiceError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

export class ConfigError extends SluiceError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const lines = issues.map(formatIssue);
    super('SLUICE_CONFIG_INVALID', lines.length === 1 ? lines[0] : `${lines.length} problems:\n  ${lines.join('\n  ')}`, 2);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export class UsageError extends SluiceError {
  constructor(message: string) {
    super('SLUICE_USAGE', message, 2);
    this.name = 'UsageError';
  }
}
