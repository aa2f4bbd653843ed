/**
 * Every relative link in README.md and docs/*.md names a file that exists and, with an `#anchor`,
 * a heading of that file (GitHub's slugs), so that moving a section cannot leave a dead link.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const documents = [
  "README.md",
  "CONTRIBUTING.md",
  "SECURITY.md",
  "ARCHITECTURE.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchor: lower case, punctuation dropped (letters, digits, `_`, `-` and spaces kept), spaces as `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replaceAll(" ", "-");
}

/** The anchors of a Markdown text's headings (outside code blocks), repeated ones numbered as GitHub does. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (heading?.[1] === undefined) continue;
    const base = slug(heading[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  return found;
}

/** The relative links of a Markdown text, outside code: `[text](target)`. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z][a-z+.-]*:/i.test(target));
}

/** The problems of one document's links: a missing file, or an anchor no heading has. */
function brokenLinks(file: string, read: (path: string) => string | undefined): string[] {
  const text = read(file) ?? "";
  return links(text).flatMap((target) => {
    const [path = "", anchor] = target.split("#");
    const resolved = path === "" ? file : relative(root, join(root, dirname(file), decodeURIComponent(path)));
    const targetText = read(resolved);
    if (targetText === undefined) return [`${file}: ${target} (no such file)`];
    if (anchor === undefined || !resolved.endsWith(".md")) return [];
    return anchors(targetText).has(anchor) ? [] : [`${file}: ${target} (no such heading)`];
  });
}

const readFromDisk = (path: string): string | undefined => {
  const full = join(root, path);
  if (!existsSync(full)) return undefined;
  return statSync(full).isDirectory() ? "" : readFileSync(full, "utf8");
};

describe("links in the documents", () => {
  it("finds the documents and their links", () => {
    expect(documents).toContain("docs/security.md");
    expect(documents.flatMap((file) => links(readFromDisk(file) ?? "")).length).toBeGreaterThan(50);
  });

  it.each(documents)("%s: every relative link and anchor resolves", (file) => {
    expect(brokenLinks(file, readFromDisk)).toEqual([]);
  });

  it("slugs headings as GitHub does", () => {
    expect(slug("Multi-factor authentication (TOTP)")).toBe("multi-factor-authentication-totp");
    expect(slug("OAuth 2.0 token endpoint")).toBe("oauth-20-token-endpoint");
    expect(slug("TypeScript apps: `createAuthClient`")).toBe("typescript-apps-createauthclient");
    expect(slug("What we chose not to fix, and why")).toBe("what-we-chose-not-to-fix-and-why");
    expect([...anchors("# A\n## A\n```\n# B\n```\n")]).toEqual(["a", "a-1"]);
  });

  it("fails on a missing file or a missing heading", () => {
    const files: Record<string, string> = {
      "docs/a.md": "# Title\n\n[ok](b.md#there) [gone](missing.md) [nowhere](b.md#not-there) [self](#title) [up](../README.md)",
      "docs/b.md": "## There\n",
      "README.md": "",
    };
    expect(brokenLinks("docs/a.md", (path) => files[path])).toEqual([
      "docs/a.md: missing.md (no such file)",
      "docs/a.md: b.md#not-there (no such heading)",
    ]);
  });
});
