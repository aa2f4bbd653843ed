/** The operator commands, run as an operator would (`npm run migrate`, `npm run cli -- …`). */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { generatePrivateKeyPem, parsePrivateKey } from "../../src/infra/crypto/keys.js";
import { createTestDatabase } from "../support/app.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const npm = (args: string[], env: Record<string, string> = {}) =>
  run("npm", ["run", "--silent", ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: "/dev/null", ...env },
    timeout: 60_000,
  });

describe("the CLI", () => {
  it("npm run migrate migrates a database once, creates the default tenant, and needs no signing key", async () => {
    const url = await createTestDatabase();
    expect((await npm(["migrate"], { DATABASE_URL: url })).stdout).toBe(
      "applied: 2026_11_21_0001_initial, 2026_11_22_0002_one_time_tokens_and_audit, 2026_11_22_0003_signing_keys, 2026_11_24_0004_identifier_keys, 2026_11_25_0005_session_epoch, 2026_11_25_0006_administration, 2026_11_26_0007_second_factors, 2026_11_26_0008_login_keys_across_tenants\n",
    );
    expect((await npm(["migrate"], { DATABASE_URL: url })).stdout).toBe("database is up to date\n");
    expect((await npm(["cli", "--", "identifier-conflicts", "--renormalize"], { DATABASE_URL: url })).stdout).toBe(
      "renormalized 0 users: 0 changed\nno identifier conflicts\n",
    );
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("select id from tenants");
      expect(rows).toEqual([{ id: "default" }]);
    } finally {
      await client.end();
    }
  });

  it.each(["ES256", "EdDSA", "RS256"] as const)("keys generate prints a usable %s key", async (algorithm) => {
    const { stdout } = await npm(["keys", "--", "generate", algorithm]);
    expect(stdout).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(() => parsePrivateKey(algorithm, stdout)).not.toThrow();
  });

  it("keys rotate refuses when a key is pinned instead of the ring", async () => {
    const error = await npm(["keys", "--", "rotate"], {
      DATABASE_URL: await createTestDatabase(),
      JWT_PRIVATE_KEY: generatePrivateKeyPem("ES256"),
    }).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain("not the key ring");
  });

  it("answers an unknown command with its usage and exit code 64", async () => {
    const error = await npm(["cli", "--", "frobnicate"]).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 64 });
    expect((error as { stderr: string }).stderr).toContain("usage:");
  });
});
