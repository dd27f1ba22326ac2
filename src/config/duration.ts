// Durations are strings with units, as in Go and Kubernetes: "500ms", "2s", "1m30s".

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;

/** Returns milliseconds, or an error sentence when the text is not a non-negative duration. */
export function parseDuration(text: string): number | string {
  const trimmed = text.trim();
  if (trimmed === '') return 'is empty; expected a duration such as "2s"';
  if (trimmed.startsWith('-')) return `"${text}" is negative; durations must be zero or more`;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return `"${text}" has no unit; write e.g. "${trimmed}s" or "${trimmed}ms"`;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < trimmed.length) {
    const at = PART.lastIndex;
    const match = PART.exec(trimmed);
    if (!match || match.index !== at) return `"${text}" is not a duration; use a number with a unit: ms, s, m or h`;
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
