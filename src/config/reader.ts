/**
 * Typed readers of environment variables that collect problems instead of throwing, so that
 * `loadConfig` can name every bad variable in one `ConfigError`. Every variable NAME may instead be
 * given as NAME_FILE, the path of a file holding the value (Docker and Kubernetes secrets); setting
 * both is a problem.
 */

import { closeSync, openSync, readSync } from "node:fs";

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
  /** The trimmed value (of NAME, or of the file NAME_FILE names), or undefined when unset or blank. */
  raw(name: string): string | undefined;
  /** The value as given, untrimmed (a password's spaces are its own), or undefined when unset or empty. */
  verbatim(name: string): string | undefined;
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

export interface ConfigReaderOptions {
  /** Reads the files NAME_FILE variables name; tests pass their own. */
  readonly readFile?: (path: string) => string;
}

/** The largest value a NAME_FILE may hold: secrets and keys are small, and a wrong path (a device, a log) must not hang start-up. */
const MAX_FILE_BYTES = 1024 * 1024;

export function createConfigReader(env: Readonly<Record<string, string | undefined>>, options: ConfigReaderOptions = {}): ConfigReader {
  const problems: string[] = [];
  const readFile = options.readFile ?? readSmallFile;
  const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== "";
  // Each variable is looked up once, so that an unreadable file is one problem however often it is read.
  const given = new Map<string, string | undefined>();
  /** NAME as given, or the contents of the file NAME_FILE names (one trailing newline dropped). */
  const lookup = (name: string): string | undefined => {
    if (given.has(name)) return given.get(name);
    const inline = env[name];
    const path = env[`${name}_FILE`];
    let value = inline;
    if (isSet(inline) && isSet(path)) {
      problems.push(`${name} and ${name}_FILE: set only one of them`);
    } else if (isSet(path)) {
      try {
        value = readFile(path.trim()).replace(/\r?\n$/, "");
      } catch (error) {
        // The path is not a secret; the file's contents never appear in a problem.
        problems.push(`${name}_FILE=${path.trim()}: cannot be read (${(error as Error).message})`);
        value = undefined;
      }
    }
    given.set(name, value);
    return value;
  };
  const raw = (name: string): string | undefined => {
    const value = lookup(name);
    return isSet(value) ? value.trim() : undefined;
  };
  return {
    raw,
    verbatim(name) {
      const value = lookup(name);
      return value === undefined || value === "" ? undefined : value;
    },
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

/** Reads a NAME_FILE's file as UTF-8, refusing one larger than MAX_FILE_BYTES. */
function readSmallFile(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    }
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
