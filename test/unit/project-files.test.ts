/**
 * The project's own files agree with each other: one Node.js version for npm scripts, engines, the
 * Dockerfile and the README; one licence for both packages.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(root, file), "utf8");
const rootPackage = JSON.parse(read("package.json"));
const clientPackage = JSON.parse(read("packages/client/package.json"));

describe("the Node.js version", () => {
  const pinned: string = rootPackage.devDependencies.node;
  const major = pinned.split(".")[0];

  it("is pinned exactly, and is what this suite runs on", () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(process.version).toBe(`v${pinned}`);
  });

  it("is the one engines, the Dockerfile's bases and the README name", () => {
    expect(rootPackage.engines.node).toBe(`>=${major}`);
    const bases = [...read("Dockerfile").matchAll(/^FROM\s+node:(\S+?)-/gm)].map((m) => m[1]);
    expect(bases.length).toBe(2);
    for (const base of bases) expect(base).toBe(pinned);
    expect(read("README.md")).toContain(`\`v${pinned}\``);
  });

  it("has its install script approved, since it fetches the binary", () => {
    expect(rootPackage.allowScripts.node).toBe(true);
  });
});

describe("the licence", () => {
  it("is Apache-2.0 in both packages, with the same text", () => {
    expect(read("LICENSE")).toContain("Apache License\n                           Version 2.0, January 2004");
    expect(rootPackage.license).toBe("Apache-2.0");
    expect(clientPackage.license).toBe("Apache-2.0");
    expect(read("packages/client/LICENSE")).toBe(read("LICENSE"));
  });

  it("moves the two packages' versions together", () => {
    expect(clientPackage.version).toBe(rootPackage.version);
  });
});

describe("the changelog and the security policy", () => {
  it("has an Unreleased section, then the packages' version as the latest release", () => {
    const releases = [...read("CHANGELOG.md").matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)];
    expect(releases[0]?.[1]).toBe("Unreleased");
    expect(releases[1]?.[1]).toBe(rootPackage.version);
    for (const release of releases.slice(1)) expect(release[2], `${release[1]} has a date`).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("supports the current release line", () => {
    const [major, minor] = (rootPackage.version as string).split(".");
    expect(read("SECURITY.md")).toContain(`(${major}.${minor}.x)`);
  });
});

describe("the CLI's name", () => {
  /** Text an operator reads: the docs, the protos, and the messages and comments under src/. */
  function operatorText(): [string, string][] {
    const files = ["README.md", "SECURITY.md", "CONTRIBUTING.md", "ARCHITECTURE.md", "third_party/unicode/README.md"];
    const walk = (dir: string): string[] =>
      readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) return path === "src/gen" || path.endsWith("/migrations") ? [] : walk(path);
        return /\.(ts|proto)$/.test(entry.name) ? [path] : [];
      });
    return [...files, ...walk("src"), ...walk("proto/auth")].map((file) => [file, read(file)]);
  }

  it("is the one the package installs (`authward`) or `npm run cli --`, never the old `auth-service` command", () => {
    expect(rootPackage.bin).toHaveProperty("authward");
    const stale = operatorText().flatMap(([file, text]) =>
      [...text.matchAll(/`auth-service [a-z<]/g)].map((match) => `${file}: ${text.slice(match.index, match.index + 50)}`),
    );
    expect(stale).toEqual([]);
  });
});
