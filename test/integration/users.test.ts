/**
 * The user repository on a real PostgreSQL and on embedded PGlite: the same migrations and the
 * same queries, asserting what is stored, not only what is returned.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "../../src/domain/errors.js";
import type { UserRepository } from "../../src/domain/ports.js";
import { ensureTenant, migrateToLatest, openDatabase } from "../../src/infra/postgres/database.js";
import { createOneTimeTokens } from "../../src/infra/postgres/one-time-tokens.js";
import type { Database } from "../../src/infra/postgres/schema.js";
import { createSecondFactorStore } from "../../src/infra/postgres/second-factors.js";
import { createTenantStore } from "../../src/infra/postgres/tenants.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";
import { createTestDatabase } from "../support/app.js";

const dirs: string[] = [];

describe.each([
  ["PostgreSQL", async () => openDatabase({ url: await createTestDatabase(), dataDir: "unused", poolMax: 4, onPoolError: () => {} })],
  [
    "embedded PGlite",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "auth-pglite-"));
      dirs.push(dir);
      return openDatabase({ url: undefined, dataDir: dir, poolMax: 1, onPoolError: () => {} });
    },
  ],
])("the user repository on %s", (_, open) => {
  let db: Kysely<Database>;
  let users: UserRepository;

  beforeAll(async () => {
    db = await open();
    expect(await migrateToLatest(db)).toEqual([
      "2026_11_21_0001_initial",
      "2026_11_22_0002_one_time_tokens_and_audit",
      "2026_11_22_0003_signing_keys",
      "2026_11_24_0004_identifier_keys",
      "2026_11_25_0005_session_epoch",
      "2026_11_25_0006_administration",
      "2026_11_26_0007_second_factors",
      "2026_11_26_0008_login_keys_across_tenants",
    ]);
    expect(await migrateToLatest(db)).toEqual([]);
    await ensureTenant(db, "default", "default");
    await ensureTenant(db, "default", "default");
    await ensureTenant(db, "acme", "acme");
    users = createUserRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const newUser = (overrides: Partial<Parameters<UserRepository["create"]>[0]> = {}) => ({
    tenant: "default",
    email: "Ann.Smith@Example.com",
    username: "Ann_S",
    fullName: "Ann Smith",
    passwordHash: "$bcrypt-sha256$v=2,t=2b,r=4$stored-hash-placeholder",
    roles: ["user", "admin"],
    ...overrides,
  });

  it("knows which tenants exist, with their base roles", async () => {
    expect(await users.tenantExists("default")).toBe(true);
    expect(await users.tenantExists("nope")).toBe(false);
    const roles = await db.selectFrom("roles").select("name").where("tenant_id", "=", "acme").orderBy("name").execute();
    expect(roles.map((r) => r.name)).toEqual(["admin", "user"]);
  });

  it("creates a user and finds it by email or username in any letter case", async () => {
    const created = await users.create(newUser());
    expect(created).toMatchObject({
      tenant: "default",
      email: "Ann.Smith@Example.com",
      username: "Ann_S",
      roles: ["user", "admin"],
      isActive: true,
      emailVerifiedAt: null,
    });
    for (const login of ["ann.smith@example.com", "ANN.SMITH@EXAMPLE.COM", "ann_s", "ANN_S"]) {
      const found = await users.findCredentialsByLogin("default", login);
      expect(found?.user.id).toBe(created.id);
      expect(found?.passwordHash).toBe(newUser().passwordHash);
    }
    expect(await users.findCredentialsByLogin("acme", "ann.smith@example.com")).toBeNull();
    expect((await users.findById(created.id))?.email).toBe(created.email);

    const row = await db.selectFrom("users").selectAll().where("id", "=", created.id).executeTakeFirstOrThrow();
    expect(row.email_normalized).toBe("ann.smith@example.com");
    expect(row.username_normalized).toBe("ann_s");
  });

  it("finds an account for the anonymous flows with one query, the same whether it exists or not, reading no roles and no timestamps", async () => {
    // The SQL each call sends, compiled as the repository's Kysely compiles it.
    const sent: string[] = [];
    const recording = createUserRepository(
      db.withPlugin({
        transformQuery: (args) => {
          sent.push(db.getExecutor().compileQuery(args.node, args.queryId).sql);
          return args.node;
        },
        transformResult: async (args) => args.result,
      }),
    );
    const found = await recording.findAccountByLogin("default", "ANN.smith@example.com");
    const whenFound = sent.splice(0);
    expect(await recording.findAccountByLogin("default", "nobody.here@example.com")).toBeNull();
    expect(sent).toEqual(whenFound);
    expect(whenFound).toHaveLength(1);
    // Role subqueries (and timestamps to parse) made a found account 35–50 µs slower to refuse.
    expect(whenFound[0]).not.toMatch(/user_roles|roles|_at"?\s*(,|from)/);
    const ann = await users.findCredentialsByLogin("default", "ann.smith@example.com");
    expect(found).toEqual({
      user: {
        id: ann?.user.id,
        tenant: "default",
        email: "Ann.Smith@Example.com",
        isActive: true,
        emailVerified: false,
        sessionEpoch: ann?.user.sessionEpoch,
      },
      passwordHash: newUser().passwordHash,
    });
    expect((await recording.findAccountByLogin("default", "ANN_s"))?.user.id).toBe(ann?.user.id);
    expect(await recording.findAccountByLogin("acme", "ann_s")).toBeNull();
  });

  it("refuses a duplicate email or username in the same tenant, case-insensitively, and allows it in another", async () => {
    await expect(users.create(newUser({ email: "ANN.smith@example.COM", username: null }))).rejects.toMatchObject({
      reason: "EMAIL_TAKEN",
    });
    await expect(users.create(newUser({ email: "other@example.com", username: "ann_s" }))).rejects.toMatchObject({
      reason: "USERNAME_TAKEN",
    });
    const elsewhere = await users.create(newUser({ tenant: "acme", roles: ["user"] }));
    expect(elsewhere.tenant).toBe("acme");
    expect(await db.selectFrom("users").select("id").where("email_normalized", "=", "ann.smith@example.com").execute()).toHaveLength(2);
  });

  it("lets any number of users go without a username", async () => {
    await users.create(newUser({ email: "no-name-1@example.com", username: null }));
    await users.create(newUser({ email: "no-name-2@example.com", username: null }));
    expect((await users.findCredentialsByLogin("default", "no-name-2@example.com"))?.user.username).toBeNull();
  });

  it("refuses a role the tenant does not have, creating nothing", async () => {
    const error = await users
      .create(newUser({ email: "ghost@example.com", username: null, roles: ["superuser"] }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ reason: "ROLE_NOT_FOUND", metadata: { role: "superuser" } });
    expect(await users.findCredentialsByLogin("default", "ghost@example.com")).toBeNull();
  });

  it("merges the permissions of the user's roles", async () => {
    await db
      .updateTable("roles")
      .set({ permissions: JSON.stringify({ reports: { view: true }, icsr: { edit: false } }) })
      .where("tenant_id", "=", "acme")
      .where("name", "=", "user")
      .execute();
    await db
      .updateTable("roles")
      .set({ permissions: JSON.stringify({ icsr: { edit: true, delete: true } }) })
      .where("tenant_id", "=", "acme")
      .where("name", "=", "admin")
      .execute();
    const both = await users.create(newUser({ tenant: "acme", email: "perm@example.com", username: null, roles: ["user", "admin"] }));
    expect(both.permissions).toEqual({ reports: { view: true }, icsr: { edit: true, delete: true } });
    const plain = await users.create(newUser({ tenant: "acme", email: "plain@example.com", username: null, roles: ["user"] }));
    expect((await users.findById(plain.id))?.permissions).toEqual({ reports: { view: true }, icsr: { edit: false } });
  });

  it("reads what a sign-in needs in one statement: the same user, tenant and second factor as the three reads it replaces", async () => {
    const tenants = createTenantStore(db);
    const factors = createSecondFactorStore(db);
    const separately = async (id: string) => {
      const user = await users.findById(id);
      if (user === null) return null;
      const factor = await factors.find(id);
      return { user, tenant: await tenants.find(user.tenant), secondFactorConfirmed: factor?.confirmedAt != null };
    };
    const at = new Date("2030-01-02T03:04:05Z");
    await tenants.update("acme", { isActive: false, settings: { passwordMinLength: 12, rolesRequired: true, mfaRequired: true } }, at);
    const none = await users.create(newUser({ tenant: "acme", email: "signin.none@example.com", username: null }));
    const pending = await users.create(newUser({ email: "signin.pending@example.com", username: null, roles: [] }));
    const confirmed = await users.create(newUser({ email: "signin.confirmed@example.com", username: null }));
    for (const { id } of [pending, confirmed]) {
      await factors.beginEnrollment({
        userId: id,
        tenant: "default",
        sealedSecret: "sealed",
        at,
        expiresAt: new Date(at.getTime() + 60_000),
      });
    }
    await factors.confirmEnrollment({ userId: confirmed.id, sealedSecret: "sealed", step: 1, at, recoveryCodeHashes: ["a"] });
    for (const [user, confirmedFactor] of [
      [none, false],
      [pending, false],
      [confirmed, true],
    ] as const) {
      const read = await users.findForSignIn(user.id);
      expect(read).toEqual(await separately(user.id));
      expect(read?.secondFactorConfirmed).toBe(confirmedFactor);
    }
    expect((await users.findForSignIn(none.id))?.tenant).toMatchObject({
      id: "acme",
      isActive: false,
      settings: { passwordMinLength: 12, verifiedEmailRequired: null, rolesRequired: true, mfaRequired: true },
      updatedAt: at,
    });
    await tenants.update("acme", { isActive: true, settings: { passwordMinLength: null, rolesRequired: false, mfaRequired: false } }, at);
    expect(await users.findForSignIn("00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  it("replaces the password hash and records when", async () => {
    const user = await users.create(newUser({ email: "change@example.com", username: null }));
    const when = new Date("2030-01-02T03:04:05Z");
    await users.updatePasswordHash(user.id, "new-hash", when);
    expect((await users.findCredentialsById(user.id))?.passwordHash).toBe("new-hash");
    const row = await db.selectFrom("users").select(["password_changed_at"]).where("id", "=", user.id).executeTakeFirstOrThrow();
    expect(row.password_changed_at.toISOString()).toBe(when.toISOString());
  });

  it("raises the session epoch with every change that ends access, in the same statement, and with nothing else", async () => {
    const user = await users.create(newUser({ email: "epoch@example.com", username: null }));
    const epochOf = async () => (await users.findById(user.id))?.sessionEpoch;
    expect(await epochOf()).toBe(0);
    expect(await users.updatePasswordHash(user.id, "hash-2", new Date())).toBe(1);
    expect(await users.raiseSessionEpoch(user.id)).toBe(2);
    expect(await users.setActive(user.id, false, new Date())).toEqual({ tenant: "default", wasActive: true, sessionEpoch: 3 });
    expect((await users.findById(user.id))?.isActive).toBe(false);
    expect(await users.setActive(user.id, false, new Date())).toEqual({ tenant: "default", wasActive: false, sessionEpoch: 4 });
    expect(await users.setActive(user.id, true, new Date())).toMatchObject({ wasActive: false, sessionEpoch: 5 });
    // A re-hash of the same password ends nothing.
    await users.upgradePasswordHash(user.id, "hash-2", "hash-3");
    expect(await epochOf()).toBe(5);
    // A password reset by mailed token raises it in the statement that spends the token.
    const tokens = createOneTimeTokens(db);
    const now = new Date();
    await tokens.issue({
      userId: user.id,
      tenant: "default",
      purpose: "reset_password",
      tokenHash: "epoch-reset",
      createdAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    expect(await tokens.consume("reset_password", "epoch-reset", now, { kind: "reset_password", passwordHash: "hash-4" })).toEqual({
      userId: user.id,
      sessionEpoch: 6,
    });
    expect(await epochOf()).toBe(6);
    // Nobody to change.
    const nobody = "00000000-0000-4000-8000-000000000000";
    expect(await users.raiseSessionEpoch(nobody)).toBeNull();
    expect(await users.setActive(nobody, false, new Date())).toBeNull();
  });

  it("finds an identifier in any tenant but one, at most as many as asked (Vigia's legacy mode)", async () => {
    await ensureTenant(db, "system", "system");
    for (const tenant of ["default", "acme", "system"]) {
      await users.create(newUser({ tenant, email: "Legacy.Mode@example.com", username: "legacy_mode" }));
    }
    await users.create(newUser({ email: "only.once@example.com", username: "only_once" }));
    const tenantsOf = (found: { user: { tenant: string } }[]) => found.map((account) => account.user.tenant).sort();
    expect(tenantsOf(await users.findAccountsByLoginInAnyTenant("LEGACY.mode@EXAMPLE.com", "system", 5))).toEqual(["acme", "default"]);
    expect(tenantsOf(await users.findAccountsByLoginInAnyTenant("legacy_MODE", "system", 5))).toEqual(["acme", "default"]);
    expect(await users.findAccountsByLoginInAnyTenant("legacy.mode@example.com", "system", 1)).toHaveLength(1);
    const [unique] = await users.findAccountsByLoginInAnyTenant("only.once@example.com", "system", 2);
    expect(unique).toMatchObject({
      user: { tenant: "default", email: "only.once@example.com", isActive: true },
      passwordHash: newUser().passwordHash,
    });
    expect(await users.findAccountsByLoginInAnyTenant("nobody@example.com", "system", 2)).toEqual([]);
  });
});
