/** The configuration documents stay true: every variable src/config.ts reads is listed in .env.example and docs/configuration.md. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

const root = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(root, file), "utf8");
// config.ts and its sections in src/config/ (the readers themselves take names, not literals).
const configSources = ["src/config.ts", ...readdirSync(join(root, "src", "config")).map((file) => `src/config/${file}`)];
const variablesRead = configSources.flatMap((file) =>
  [...read(file).matchAll(/\b(?:raw|verbatim|str|int|duration|bool|url|readTokenLinkTemplate\(r,)\s*\(?"([A-Z_]+)"/g)].map((m) => m[1]!),
);

describe("configuration documents", () => {
  it("finds the variables config.ts reads", () => {
    expect(variablesRead.length).toBeGreaterThan(25);
  });

  it(".env.example lists every variable", () => {
    const listed = new Set([...read(".env.example").matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]));
    expect(variablesRead.filter((name) => !listed.has(name))).toEqual([]);
  });

  it("docs/configuration.md's table lists every variable", () => {
    const section = read("docs/configuration.md");
    expect(variablesRead.filter((name) => !section.includes(`\`${name}\``))).toEqual([]);
  });

  it("docs/operations.md's Redis topology examples are configurations the service accepts", () => {
    const block = /## Redis topologies[\s\S]*?```sh\n([\s\S]*?)```/.exec(read("docs/operations.md"))?.[1] ?? "";
    const examples = block.split(/^# /m).filter((part) => part.trim() !== "");
    const kinds = examples.map((example) => {
      const env = Object.fromEntries(
        example
          .split("\n")
          .slice(1)
          .filter((line) => line.includes("="))
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
      const readFile = (path: string) =>
        path.endsWith(".pem") ? "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" : "pw\n";
      return loadConfig(env, { readFile }).redis.topology.kind;
    });
    expect(kinds).toEqual(["standalone", "sentinel", "cluster"]);
  });
});
