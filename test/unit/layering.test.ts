/**
 * The layering rule in biome.json (run by `npm run lint`, hence `npm run check`): the domain
 * imports no adapter, transport, generated code or configuration, and transports import no
 * adapter; and the size rules (no function over 60 lines, no file over 300, outside generated code). Each probe is a one-line module linted under the repository's own configuration in a
 * scratch copy of the tree's layout, so the rule is seen to fail on a violation and to pass on the
 * imports the layers do use.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const biome = join(root, "node_modules/.bin/biome");

const refusedInDomain: [string, string][] = [
  ["an adapter", 'import { x } from "../infra/redis/sessions.js";'],
  ["an adapter's types", 'import type { x } from "../infra/postgres/schema.js";'],
  ["a transport", 'import { x } from "../transport/errors.js";'],
  ["generated code", 'import { x } from "../gen/auth/v1/auth_pb.js";'],
  ["the configuration", 'import { x } from "../config.js";'],
  ["a configuration section", 'import { x } from "../config/reader.js";'],
  ["the composition root", 'import { x } from "../app/adapters.js";'],
  ["a SQL client", 'import { x } from "kysely";'],
  ["protobuf", 'import { x } from "@bufbuild/protobuf";'],
];
const refusedInTransport: [string, string][] = [
  ["an adapter", 'import { x } from "../../infra/redis/sessions.js";'],
  ["the composition root's adapters", 'import { x } from "../../app/adapters.js";'],
  ["a Redis client", 'import { x } from "ioredis";'],
];
const allowed: [string, string][] = [
  ["domain", 'import { x } from "./ports.js";'],
  ["domain", 'import { x } from "node:crypto";'],
  ["transport/rest", 'import { x } from "../../domain/flows.js";'],
  ["transport/rest", 'import { x } from "../../gen/auth/v1/auth_pb.js";'],
  ["transport", 'import { x } from "../config.js";'],
  ["infra/redis", 'import { x } from "../../domain/ports.js";'],
];

/** Each probe's file, by its directory and statement. */
const files = new Map<string, string>();
const fileOf = (dir: string, statement: string) => files.get(`${dir}\n${statement}`) ?? "";
/** The files the rule reported, from one lint of every probe. */
let reported: Set<string>;
/** What the size rules reported on their probes: "file rule". */
let sizeReports: string[];
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "layering-"));
  copyFileSync(join(root, "biome.json"), join(scratch, "biome.json"));
  const probes: [string, string][] = [
    ...refusedInDomain.map(([, statement]): [string, string] => ["domain", statement]),
    ...refusedInTransport.map(([, statement]): [string, string] => ["transport/rest", statement]),
    ...allowed,
  ];
  probes.forEach(([dir, statement], i) => {
    const file = `src/${dir}/probe${i}.ts`;
    files.set(`${dir}\n${statement}`, file);
    mkdirSync(dirname(join(scratch, file)), { recursive: true });
    writeFileSync(join(scratch, file), `${statement}\nexport const used = x;\n`);
  });
  const output = await run(biome, ["lint", "--max-diagnostics=none", "src"], { cwd: scratch }).then(
    ({ stdout, stderr }) => stdout + stderr,
    (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
  );
  reported = new Set([...output.matchAll(/^(src\/\S+\.ts):\d+:\d+ lint\/style\/noRestrictedImports/gm)].map((m) => m[1] ?? ""));
  // The size rules, on function bodies of 61 and 60 lines and a file of 301.
  mkdirSync(join(scratch, "src/size"), { recursive: true });
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `  console.log(${i});`).join("\n");
  writeFileSync(join(scratch, "src/size/long-function.ts"), `export function long(): void {\n${lines(61)}\n}\n`);
  writeFileSync(join(scratch, "src/size/short-function.ts"), `export function short(): void {\n${lines(60)}\n}\n`);
  writeFileSync(
    join(scratch, "src/size/long-file.ts"),
    `${Array.from({ length: 301 }, (_, i) => `export const v${i} = ${i};`).join("\n")}\n`,
  );
  const sizes = await run(biome, ["lint", "--max-diagnostics=none", "src/size"], { cwd: scratch }).then(
    ({ stdout, stderr }) => stdout + stderr,
    (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
  );
  sizeReports = [...sizes.matchAll(/^(src\/size\/\S+\.ts):\d+:\d+ lint\/\w+\/(\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the layering rule", () => {
  it.each(refusedInDomain)("refuses the domain importing %s", (_, statement) => {
    expect(reported.has(fileOf("domain", statement))).toBe(true);
  });

  it.each(refusedInTransport)("refuses a transport importing %s", (_, statement) => {
    expect(reported.has(fileOf("transport/rest", statement))).toBe(true);
  });

  it.each(allowed)("lets src/%s use %s", (dir, statement) => {
    expect(reported.has(fileOf(dir, statement))).toBe(false);
  });
});

describe("the size rules", () => {
  it("refuses a function over 60 lines and a file over 300 lines, and lets the rest be", () => {
    expect(sizeReports.sort()).toEqual([
      "src/size/long-file.ts noExcessiveLinesPerFile",
      "src/size/long-function.ts noExcessiveLinesPerFunction",
    ]);
  });
});
