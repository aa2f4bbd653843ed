/**
 * `authward import-users` and `create-admin`, run as an operator would, against the database of
 * a running service: imported users sign in with their old passwords, and their hashes become ours.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hash as argon2Hash } from "@node-rs/argon2";
import { hash as rawBcrypt } from "@node-rs/bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPasswordHasher } from "../../src/infra/crypto/passwords.js";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, type TestClient } from "../support/clients.js";
import { recordSecret } from "../support/secrets.js";

const root = join(import.meta.dirname, "..", "..");

describe("importing users and creating admins", () => {
  let databaseUrl: string;
  let app: TestApp;
  let client: TestClient;
  let dir: string;

  const cli = (args: string[], env: Record<string, string> = {}, input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        "npm",
        ["run", "--silent", "cli", "--", ...args],
        {
          cwd: root,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            ENV_FILE: "/dev/null",
            DATABASE_URL: databaseUrl,
            BCRYPT_COST: "5",
            ...env,
          },
          timeout: 60_000,
        },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  const storedHash = async (email: string) =>
    (
      await app.app.db
        .selectFrom("users")
        .select("password_hash")
        .where("email_normalized", "=", email.toLowerCase())
        .executeTakeFirstOrThrow()
    ).password_hash;
  const login = (identifier: string, password: string, tenant?: string) =>
    client.call("Login", { identifier, password }, tenant ? { "x-tenant": tenant } : {});

  const passwords = {
    vidaplus: "vidaplus-old-password",
    ucontact: "ucontact-old-password",
    ours: "low-cost-password",
    csv: "csv-imported-password",
    admin: "admin-chosen-password",
    vigia: "vigia-old-password",
  };

  beforeAll(async () => {
    for (const password of Object.values(passwords)) recordSecret(password);
    databaseUrl = await createTestDatabase();
    app = await startTestApp({ name: "import", databaseUrl, env: { BCRYPT_COST: "5" } });
    client = createGrpcClient(app.grpcAddress);
    dir = mkdtempSync(join(tmpdir(), "auth-import-"));
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("imports JSONL with argon2id, raw bcrypt and low-cost hashes, and reports bad rows by line without their hashes", async () => {
    const rows = [
      // pwdlib's recommended argon2id, as VidaPlus stored it.
      {
        email: "vida@example.com",
        password_hash: await argon2Hash(passwords.vidaplus, { memoryCost: 65536, timeCost: 3, parallelism: 4 }),
        email_verified: true,
      },
      // bcrypt $2b$, as UContact stored it.
      { email: "ucon@example.com", username: "ucon", password_hash: await rawBcrypt(passwords.ucontact, { cost: 4 }), roles: ["user"] },
      // Our own format, at a cost below today's BCRYPT_COST (5).
      { email: "ours@example.com", password_hash: await (await createPasswordHasher(4)).hash(passwords.ours), full_name: "Low Cost" },
      { email: "bad@example.com", password_hash: "md5:0123456789abcdef" },
      { email: "role@example.com", password_hash: await rawBcrypt("x-password", { cost: 4 }), roles: ["superuser"] },
    ];
    const file = join(dir, "users.jsonl");
    writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\nnot json\n`);
    const first = await cli(["import-users", file]);
    expect(first.stdout).toContain("imported 3, skipped 0, failed 3");
    expect(first.stdout).toContain("line 4: failed: password_hash: not a bcrypt");
    expect(first.stdout).toContain('line 5: failed: The tenant has no role "superuser" (pass --create-roles to create it)');
    expect(first.stdout).toContain("line 6: failed: not valid JSON");
    expect(first.stdout).not.toContain("md5:0123");
    expect(first.code).toBe(1);

    const again = await cli(["import-users", file]);
    expect(again.stdout).toContain("imported 0, skipped 3, failed 3");
    expect(again.stdout).toContain("line 1: skipped (email exists)");
  });

  it("an imported argon2id user logs in, and afterwards the stored hash is ours (bcrypt)", async () => {
    expect((await storedHash("vida@example.com")).startsWith("$argon2id$")).toBe(true);
    expect(await login("vida@example.com", "wrong-password-here")).toMatchObject({ ok: false, reason: "INVALID_CREDENTIALS" });
    expect(await login("VIDA@example.com", passwords.vidaplus)).toMatchObject({ ok: true, response: { user: { emailVerified: true } } });
    await app.app.drainBackground();
    expect(await storedHash("vida@example.com")).toMatch(/^\$bcrypt-sha256\$v=2,t=2b,r=5\$/);
    expect(await login("vida@example.com", passwords.vidaplus)).toMatchObject({ ok: true });
  });

  it("upgrades raw bcrypt and low-cost hashes at login too", async () => {
    expect(await login("ucon", passwords.ucontact)).toMatchObject({ ok: true });
    expect(await login("ours@example.com", passwords.ours)).toMatchObject({ ok: true });
    await app.app.drainBackground();
    expect(await storedHash("ucon@example.com")).toMatch(/^\$bcrypt-sha256\$v=2,t=2b,r=5\$/);
    expect(await storedHash("ours@example.com")).toMatch(/^\$bcrypt-sha256\$v=2,t=2b,r=5\$/);
  });

  it("imports CSV with quoted argon2 hashes into the tenant it names, creating the tenant", async () => {
    const hash = await argon2Hash(passwords.csv);
    const file = join(dir, "users.csv");
    writeFileSync(file, `email,password_hash,username,roles\r\n"csv@example.com","${hash}",csv_user,user;admin\r\n`);
    const result = await cli(["import-users", file, "--tenant", "Imported-Co"]);
    expect(result.stdout).toContain("created tenant imported-co");
    expect(result.stdout).toContain("imported 1, skipped 0, failed 0");
    expect(result.code).toBe(0);
    expect(await login("csv_user", passwords.csv, "imported-co")).toMatchObject({
      ok: true,
      response: { user: { role: "admin", tenant: "imported-co" } },
    });
  });

  it("imports Vigia users with their integer ids and the roles the tenant lacks (--create-roles); the seed routes answer those ids", async () => {
    const hash = await rawBcrypt(passwords.vigia, { cost: 4 });
    const file = join(dir, "vigia.csv");
    writeFileSync(
      file,
      [
        "id,email,password_hash,username,full_name,roles,empleado_id",
        `123,juan.perez@example.com,${hash},juan.perez,Juan Pérez García,admin;qf,456`,
        `124,maria@example.com,${hash},maria,,qf,`,
        `123,dup@example.com,${hash},dup,,qf,`,
        `x1,bad@example.com,${hash},bad,,qf,`,
        // Past the kept-number bound: the shared sequence would then hand out numbers over 2^53.
        `9007199254740990,huge@example.com,${hash},huge,,qf,`,
      ].join("\n"),
    );
    const refused = await cli(["import-users", file, "--tenant", "acme-pharma"]);
    expect(refused.stdout).toContain('line 2: failed: The tenant has no role "qf" (pass --create-roles to create it)');
    expect(refused.stdout).toContain("line 5: failed: id: not a positive integer");
    expect(refused.stdout).toContain("line 6: failed: id: must be a positive integer up to 4503599627370495");
    expect(refused.stdout).toContain("imported 0, skipped 0, failed 5");
    expect(refused.code).toBe(1);

    const imported = await cli(["import-users", file, "--tenant", "acme-pharma", "--create-roles"]);
    expect(imported.stdout).toContain("created role acme-pharma/qf");
    expect(imported.stdout).toContain("line 4: failed: id: another user of the tenant has this number");
    expect(imported.stdout).toContain("imported 2, skipped 0, failed 3");

    const form = new URLSearchParams({ username: "juan.perez@example.com", password: passwords.vigia });
    const vigiaLogin = await fetch(`${app.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "x-tenant": "acme-pharma" },
      body: form,
    });
    const body = (await vigiaLogin.json()) as { access_token: string; user: Record<string, unknown> };
    expect(body.user).toEqual({ id: 123, username: "juan.perez", email: "juan.perez@example.com", role: "admin", roles: ["admin", "qf"] });
    const headers = { authorization: `Bearer ${recordSecret(body.access_token)}`, "x-tenant": "acme-pharma" };
    expect(await (await fetch(`${app.baseUrl}/api/v1/auth/me`, { headers })).json()).toMatchObject({
      id: 123,
      empleado_id: 456,
      full_name: "Juan Pérez García",
    });
    expect(await (await fetch(`${app.baseUrl}/api/v1/auth/whoami`, { headers })).json()).toMatchObject({
      id: 123,
      empleado_id: 456,
      role: "admin",
    });
    // Users created afterwards are numbered past the imported ids.
    const registered = await client.call(
      "Register",
      { email: "new@example.com", password: passwords.vigia },
      { "x-tenant": "acme-pharma" },
    );
    expect(registered.ok && Number(registered.response.user.number)).toBeGreaterThan(124);
  });

  it("create-admin makes an admin from ADMIN_PASSWORD or standard input, and promotes an existing user", async () => {
    const created = await cli(["create-admin", "--email", "root@example.com", "--username", "root"], { ADMIN_PASSWORD: passwords.admin });
    expect(created.stdout).toContain("created admin root@example.com");
    expect(await login("root", passwords.admin)).toMatchObject({ ok: true, response: { user: { role: "admin", emailVerified: true } } });
    expect((await cli(["create-admin", "--email", "root@example.com"])).stdout).toContain("is an admin of default already");

    const fromStdin = await cli(["create-admin", "--email", "ops@example.com", "--password-stdin"], {}, `${passwords.admin}\n`);
    expect(fromStdin.stdout).toContain("created admin ops@example.com");
    expect(await login("ops@example.com", passwords.admin)).toMatchObject({ ok: true });

    const promoted = await cli(["create-admin", "--email", "ucon@example.com"]);
    expect(promoted.stdout).toContain("granted the admin role (password unchanged)");
    expect(await login("ucon", passwords.ucontact)).toMatchObject({ ok: true, response: { user: { role: "admin" } } });

    const weak = await cli(["create-admin", "--email", "weak@example.com"], { ADMIN_PASSWORD: "password123" });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain("too common");
    expect((await cli(["create-admin", "--email", "nopass@example.com"])).stderr).toContain("no password");
  });
});
