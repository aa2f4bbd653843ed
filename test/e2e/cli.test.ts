/** The operator commands, run as an operator would (`npm run migrate`, `npm run cli -- …`). */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { parseEs256PrivateKey } from "../../src/infra/crypto/keys.js";
import { createTestDatabase } from "../support/app.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const npm = (args: string[], env: Record<string, string> = {}) =>
  run("npm", ["run", "--silent", ...args], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 });

describe("the CLI", () => {
  it("npm run migrate migrates a database once, creates the default tenant, and needs no signing key", async () => {
    const url = await createTestDatabase();
    expect((await npm(["migrate"], { DATABASE_URL: url })).stdout).toBe(
      "applied: 2026_11_21_0001_initial, 2026_11_22_0002_one_time_tokens_and_audit\n",
    );
    expect((await npm(["migrate"], { DATABASE_URL: url })).stdout).toBe("database is up to date\n");
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("select id from tenants");
      expect(rows).toEqual([{ id: "default" }]);
    } finally {
      await client.end();
    }
  });

  it("keys generate prints a usable ES256 key, and keys ensure writes one only once", async () => {
    const { stdout } = await npm(["cli", "--", "keys", "generate"]);
    expect(stdout).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(() => parseEs256PrivateKey(stdout)).not.toThrow();

    const dir = mkdtempSync(join(tmpdir(), "auth-keys-"));
    try {
      const file = join(dir, "jwt.pem");
      expect((await npm(["cli", "--", "keys", "ensure", file])).stdout).toContain("wrote a new ES256 key");
      const first = readFileSync(file, "utf8");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect((await npm(["cli", "--", "keys", "ensure", file])).stdout).toContain("left as it is");
      expect(readFileSync(file, "utf8")).toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers an unknown command with its usage and exit code 64", async () => {
    const error = await npm(["cli", "--", "frobnicate"]).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 64 });
    expect((error as { stderr: string }).stderr).toContain("usage:");
  });
});
