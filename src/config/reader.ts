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

const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== "";

export function createConfigReader(env: Readonly<Record<string, string | undefined>>, options: ConfigReaderOptions = {}): ConfigReader {
  return new EnvReader(env, options.readFile ?? readSmallFile);
}

class EnvReader implements ConfigReader {
  readonly #problems: string[] = [];
  // Each variable is looked up once, so that an unreadable file is one problem however often it is read.
  readonly #given = new Map<string, string | undefined>();
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #readFile: (path: string) => string;

  constructor(env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string) {
    this.#env = env;
    this.#readFile = readFile;
  }

  /** NAME as given, or the contents of the file NAME_FILE names (one trailing newline dropped). */
  #lookup(name: string): string | undefined {
    if (this.#given.has(name)) return this.#given.get(name);
    const inline = this.#env[name];
    const path = this.#env[`${name}_FILE`];
    let value = inline;
    if (isSet(inline) && isSet(path)) {
      this.#problems.push(`${name} and ${name}_FILE: set only one of them`);
    } else if (isSet(path)) {
      try {
        value = this.#readFile(path.trim()).replace(/\r?\n$/, "");
      } catch (error) {
        // The path is not a secret; the file's contents never appear in a problem.
        this.#problems.push(`${name}_FILE=${path.trim()}: cannot be read (${(error as Error).message})`);
        value = undefined;
      }
    }
    this.#given.set(name, value);
    return value;
  }

  raw(name: string): string | undefined {
    const value = this.#lookup(name);
    return isSet(value) ? value.trim() : undefined;
  }

  verbatim(name: string): string | undefined {
    const value = this.#lookup(name);
    return value === undefined || value === "" ? undefined : value;
  }

  problem(message: string): void {
    this.#problems.push(message);
  }

  str(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.#problems.push(`${name}=${value}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  duration(name: string, fallback: string, minMs: number): number {
    const value = this.raw(name) ?? fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.#problems.push(`${name}=${value}: expected a duration such as 500ms, 10s, 15m, 24h or 7d`);
      return parseDuration(fallback) ?? 0;
    }
    if (ms < minMs) this.#problems.push(`${name}=${value}: must be at least ${minMs} ms`);
    return ms;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (["true", "1", "yes", "on"].includes(value)) return true;
    if (["false", "0", "no", "off"].includes(value)) return false;
    this.#problems.push(`${name}=${value}: expected true or false`);
    return fallback;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.#problems.push(`${name}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
      }
    } catch {
      // The value may hold a password: name the variable, never echo it.
      this.#problems.push(`${name}: not a valid URL`);
    }
    return value;
  }

  throwIfProblems(): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems);
  }
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
