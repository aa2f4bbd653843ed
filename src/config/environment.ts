/**
 * The environment the configuration is read from: the process's own variables over those of an
 * env file. The file is `.env` in the working directory (a missing one is fine), or the one
 * ENV_FILE names (which must exist); it is parsed by Node's own parser, the format of
 * `node --env-file`. A variable set in the process environment wins over the file, even when it is
 * set to an empty value, so a deployment's real variables always override a stray `.env`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";
import { ConfigError } from "./reader.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface EnvironmentOptions {
  /** Where `.env` and a relative ENV_FILE are looked for; default the working directory. */
  readonly cwd?: string;
}

/** The process environment over the env file's variables; a ConfigError when ENV_FILE cannot be read. */
export function readEnvironment(processEnv: Env, options: EnvironmentOptions = {}): Env {
  const cwd = options.cwd ?? process.cwd();
  const named = processEnv.ENV_FILE?.trim() || undefined;
  const path = resolve(cwd, named ?? ".env");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (named === undefined && (error as NodeJS.ErrnoException).code === "ENOENT") return { ...processEnv };
    throw new ConfigError([`${named === undefined ? ".env" : `ENV_FILE=${named}`}: cannot be read (${(error as Error).message})`]);
  }
  const fromFile: Record<string, string | undefined> = Object.create(null);
  for (const [name, value] of Object.entries(parseEnv(text))) fromFile[name] = value;
  return { ...fromFile, ...processEnv };
}
