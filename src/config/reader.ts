/**
 * Typed readers of environment variables that collect problems instead of throwing, so that
 * `loadConfig` can name every bad variable in one `ConfigError`.
 */

/** Start-up refused: one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `500ms`, `10s`, `15m`, `24h`, `7d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * durationUnits[unit as keyof typeof durationUnits];
}

/** Reads one environment; each reader returns its fallback and records a problem on a bad value. */
export interface ConfigReader {
  /** The trimmed value, or undefined when unset or blank. */
  raw(name: string): string | undefined;
  str(name: string, fallback: string): string;
  int(name: string, fallback: number, min: number, max: number): number;
  /** A duration (`15m`) in milliseconds, at least `minMs`. */
  duration(name: string, fallback: string, minMs: number): number;
  bool(name: string, fallback: boolean): boolean;
  /** A URL with one of `protocols` (`"https:"`); a problem never echoes the value, which may hold a password. */
  url(name: string, protocols: readonly string[]): string | undefined;
  /** Records a problem found by a rule across several variables. */
  problem(message: string): void;
  /** Throws one ConfigError naming every problem recorded so far, if any. */
  throwIfProblems(): void;
}

export function createConfigReader(env: Readonly<Record<string, string | undefined>>): ConfigReader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  return {
    raw,
    problem: (message) => void problems.push(message),
    str: (name, fallback) => raw(name) ?? fallback,
    int(name, fallback, min, max) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        problems.push(`${name}=${value}: expected a whole number from ${min} to ${max}`);
        return fallback;
      }
      return n;
    },
    duration(name, fallback, minMs) {
      const value = raw(name) ?? fallback;
      const ms = parseDuration(value);
      if (ms === undefined) {
        problems.push(`${name}=${value}: expected a duration such as 500ms, 10s, 15m, 24h or 7d`);
        return parseDuration(fallback) ?? 0;
      }
      if (ms < minMs) problems.push(`${name}=${value}: must be at least ${minMs} ms`);
      return ms;
    },
    bool(name, fallback) {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["true", "1", "yes", "on"].includes(value)) return true;
      if (["false", "0", "no", "off"].includes(value)) return false;
      problems.push(`${name}=${value}: expected true or false`);
      return fallback;
    },
    url(name, protocols) {
      const value = raw(name);
      if (value === undefined) return undefined;
      try {
        const parsed = new URL(value);
        if (!protocols.includes(parsed.protocol)) {
          problems.push(`${name}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
        }
      } catch {
        // The value may hold a password: name the variable, never echo it.
        problems.push(`${name}: not a valid URL`);
      }
      return value;
    },
    throwIfProblems() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
}
