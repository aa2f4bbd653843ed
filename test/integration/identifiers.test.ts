/**
 * Identifier keys and skeletons on a real PostgreSQL: uniqueness per tenant by key and by
 * skeleton (and the same on embedded PGlite), and the 0004 migration over a database that already
 * holds colliding users, written as the code before it stored them.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Kysely, Migrator } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identifierConflicts } from "../../src/cli/identifier-conflicts.js";
import { importUsers, parseCsv, parseJsonl } from "../../src/cli/import-users.js";
import type { UserRepository } from "../../src/domain/ports.js";
import { ensureTenant, migrateToLatest, openDatabase } from "../../src/infra/postgres/database.js";
import { listIdentifierConflicts, renormalizeIdentifiers } from "../../src/infra/postgres/identifier-keys.js";
import { migrationProvider } from "../../src/infra/postgres/migrations/index.js";
import type { Database } from "../../src/infra/postgres/schema.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";
import { createTestDatabase } from "../support/app.js";

const hash = "$bcrypt-sha256$v=2,t=2b,r=4$stored-hash-placeholder";
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
])("identifier uniqueness on %s", (_, open) => {
  let db: Kysely<Database>;
  let users: UserRepository;
  const create = (email: string, username: string | null = null, tenant = "default") =>
    users.create({ tenant, email, username, fullName: null, passwordHash: hash, roles: ["user"] });
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: { reason?: string; message?: string }) => error,
    );

  beforeAll(async () => {
    db = await open();
    await migrateToLatest(db);
    await ensureTenant(db, "default", "default");
    await ensureTenant(db, "acme", "acme");
    users = createUserRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("stores the display form, the key and the skeleton", async () => {
    const kate = await create("\u212Aate@Example.com", "ＫＡＴＥ_1");
    expect(kate.email).toBe("Kate@Example.com");
    expect(kate.username).toBe("KATE_1");
    const row = await db.selectFrom("users").selectAll().where("id", "=", kate.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      email: "Kate@Example.com",
      email_normalized: "kate@example.com",
      email_skeleton: "kate@example.com",
      username: "KATE_1",
      username_normalized: "kate_1",
      username_skeleton: "kate_l",
    });
  });

  it("refuses a second account with the same key: Kelvin sign, fullwidth, case", async () => {
    for (const email of ["kate@example.com", "\u212Aate@example.com", "ｋａｔｅ@EXAMPLE.com"]) {
      expect(await rejection(create(email))).toMatchObject({ reason: "EMAIL_TAKEN" });
    }
    expect(await rejection(create("other@example.com", "kate_1"))).toMatchObject({ reason: "USERNAME_TAKEN" });
  });

  it("refuses a lookalike by skeleton: a Cyrillic 'а' local part on the same domain, an all-Cyrillic username", async () => {
    expect(await rejection(create("k\u0430te@example.com"))).toMatchObject({
      reason: "EMAIL_TAKEN",
      message: "An account with an email address that looks the same already exists.",
    });
    await create("ace@example.com", "ace");
    expect(await rejection(create("ace2@example.com", "\u0430\u0441\u0435"))).toMatchObject({ reason: "USERNAME_TAKEN" });
    expect(await rejection(create("root1@example.com", "adrnin"))).toBeUndefined();
    expect(await rejection(create("root2@example.com", "admin"))).toMatchObject({ reason: "USERNAME_TAKEN" });
  });

  it("allows the same address and name in another tenant, and a lookalike on another domain", async () => {
    expect((await create("kate@example.com", "kate_1", "acme")).tenant).toBe("acme");
    expect((await create("k\u0430te@example.org")).email).toBe("k\u0430te@example.org");
  });

  it("makes the Unicode and punycode forms of an IDN domain one address", async () => {
    await create("user@münchen.de");
    expect(await rejection(create("USER@xn--mnchen-3ya.de"))).toMatchObject({ reason: "EMAIL_TAKEN" });
    expect((await users.findCredentialsByLogin("default", "user@XN--MNCHEN-3YA.DE"))?.user.email).toBe("user@münchen.de");
  });

  it("imports normalized, and reports each collision or refused identifier on its line", async () => {
    await ensureTenant(db, "imported", "imported");
    const jsonl = [
      { email: "\u212Aim@example.com", username: "ＫＩＭ", password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe" },
      { email: "kim@EXAMPLE.com", password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe" },
      { email: "k\u0456m@example.com", password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe" },
      { email: "other@example.com", username: "k1m", password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe" },
      { email: "ki\u0000m@example.com", password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe" },
      {
        email: "nul@example.com",
        tenant: "bad\u0000tenant",
        password_hash: "$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe",
      },
    ]
      .map((row) => JSON.stringify(row))
      .join("\n");
    const report = await importUsers(db, parseJsonl(jsonl), { tenant: "imported" });
    expect(report.imported).toBe(1);
    expect(report.skipped).toEqual([{ line: 2, reason: "email exists" }]);
    expect(report.failed).toEqual([
      { line: 3, reason: "email looks the same as an existing user's (confusable); not imported" },
      { line: 4, reason: "username looks the same as an existing user's (confusable); not imported" },
      { line: 5, reason: expect.stringMatching(/^email: must not contain control.*U\+0000/) },
      { line: 6, reason: "x-tenant: expected a slug of lowercase letters, digits and dashes" },
    ]);
    const stored = await db.selectFrom("users").select(["email", "username"]).where("tenant_id", "=", "imported").execute();
    expect(stored).toEqual([{ email: "Kim@example.com", username: "KIM" }]);
    // CSV goes the same way.
    const csv = parseCsv(`email,password_hash\nKIM@example.com,$2b$04$abcdefghijklmnopqrstuu7vMZg7Ivl5WkzDqY1u8zd7OXmW9NcBe\n`);
    expect((await importUsers(db, csv, { tenant: "imported" })).skipped).toEqual([{ line: 2, reason: "email exists" }]);
  });

  it("finds the account by any form of its key, and refuses a NUL before PostgreSQL sees it", async () => {
    const kate = await users.findCredentialsByLogin("default", "KATE@example.com");
    for (const login of ["\u212Aate@example.com", "ｋａｔｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ＫＡＴＥ_1"]) {
      expect((await users.findCredentialsByLogin("default", login))?.user.id).toBe(kate?.user.id);
    }
    expect(await users.findCredentialsByLogin("default", "k\u0430te@example.com")).toBeNull();
    expect(await rejection(users.findCredentialsByLogin("default", "kate\u0000@example.com"))).toMatchObject({ reason: "INVALID_EMAIL" });
    expect(await rejection(users.findCredentialsByLogin("default", "kate\u0000"))).toMatchObject({ reason: "INVALID_USERNAME" });
  });
});

describe("the 0004 migration over users stored by the code before it", () => {
  let db: Kysely<Database>;
  const ids: Record<string, string> = {};
  const t0 = Date.parse("2026-01-01T00:00:00Z");

  /** A users row as the 0001 schema and the old rule (trim, lower case) stored it. */
  async function legacyUser(name: string, tenant: string, email: string, username: string | null, minutes: number, verified = false) {
    ids[name] = randomUUID();
    const at = new Date(t0 + minutes * 60_000);
    await (db as Kysely<any>)
      .insertInto("users")
      .values({
        id: ids[name],
        tenant_id: tenant,
        email,
        email_normalized: email.trim().toLowerCase(),
        username,
        username_normalized: username?.toLowerCase() ?? null,
        password_hash: hash,
        email_verified_at: verified ? at : null,
        password_changed_at: at,
        created_at: at,
        updated_at: at,
      })
      .execute();
  }
  const row = (name: string) => db.selectFrom("users").selectAll().where("id", "=", ids[name]!).executeTakeFirstOrThrow();

  beforeAll(async () => {
    db = openDatabase({ url: await createTestDatabase(), dataDir: "unused", poolMax: 2, onPoolError: () => {} });
    const migrator = new Migrator({ db, provider: migrationProvider });
    const { error } = await migrator.migrateTo("2026_11_22_0003_signing_keys");
    if (error !== undefined) throw error;
    await ensureTenant(db, "default", "default");
    await ensureTenant(db, "acme", "acme");
    // The owner, then a fullwidth twin the old lower-casing did not catch.
    await legacyUser("owner", "default", "kate@example.com", "kate", 0);
    await legacyUser("fullwidth", "default", "ｋａｔｅ@example.com", "ＫＡＴＥ", 1);
    // A Cyrillic 'а': a key of its own, the owner's skeleton.
    await legacyUser("cyrillic", "default", "k\u0430te@example.com", null, 2);
    // A zero-width space the old rule let through.
    await legacyUser("zeroWidth", "default", "ka\u200Bte@example.com", null, 3);
    // A Kelvin sign alone: no collision, but it must be shown and mailed as a plain K.
    await legacyUser("kelvin", "default", "\u212Aelvin@example.org", null, 4);
    // Squatter first: the fullwidth twin came before the owner, who verified her address.
    await legacyUser("squatter", "acme", "ｂｏｂ@example.com", null, 0);
    await legacyUser("lateOwner", "acme", "bob@example.com", null, 5, true);
    // An address today's rule would refuse for its shape, not its characters: kept, with a lenient key.
    await legacyUser("oddShape", "acme", "Odd..Shape@Example.com", null, 6);

    expect((await migrateToLatest(db))[0]).toBe("2026_11_24_0004_identifier_keys");
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it("keeps the earlier owner's key and flags the later fullwidth twin, for email and username", async () => {
    expect(await row("owner")).toMatchObject({ email_normalized: "kate@example.com", username_normalized: "kate" });
    expect(await row("fullwidth")).toMatchObject({
      email: "kate@example.com",
      email_normalized: null,
      email_skeleton: null,
      username: "KATE",
      username_normalized: null,
      username_skeleton: null,
    });
  });

  it("keeps a confusable's own key (it can still sign in with it) but not its skeleton", async () => {
    expect(await row("cyrillic")).toMatchObject({ email_normalized: "k\u0430te@example.com", email_skeleton: null });
  });

  it("gives an identifier holding a refused character no key", async () => {
    expect(await row("zeroWidth")).toMatchObject({ email: "ka\u200Bte@example.com", email_normalized: null, email_skeleton: null });
  });

  it("rewrites a compatibility character in the stored address, so mail goes to the plain address", async () => {
    expect(await row("kelvin")).toMatchObject({ email: "Kelvin@example.org", email_normalized: "kelvin@example.org" });
  });

  it("prefers the user who verified the address over an earlier squatter", async () => {
    expect(await row("lateOwner")).toMatchObject({ email_normalized: "bob@example.com" });
    expect(await row("squatter")).toMatchObject({ email: "bob@example.com", email_normalized: null });
  });

  it("keeps an old-shaped address findable", async () => {
    expect(await row("oddShape")).toMatchObject({ email: "Odd..Shape@Example.com", email_normalized: "odd..shape@example.com" });
    const users = createUserRepository(db);
    expect((await users.findCredentialsByLogin("acme", "odd..shape@EXAMPLE.com"))?.user.id).toBe(ids.oddShape);
  });

  it("reports every collision with both user ids, and never a hash", async () => {
    const conflicts = await listIdentifierConflicts(db);
    const summary = conflicts.map(({ tenant, field, kind, userId, otherUserId }) => ({ tenant, field, kind, userId, otherUserId }));
    expect(summary).toEqual(
      expect.arrayContaining([
        { tenant: "default", field: "email", kind: "same_key", userId: ids.fullwidth, otherUserId: ids.owner },
        { tenant: "default", field: "username", kind: "same_key", userId: ids.fullwidth, otherUserId: ids.owner },
        { tenant: "default", field: "email", kind: "confusable", userId: ids.cyrillic, otherUserId: ids.owner },
        { tenant: "default", field: "email", kind: "refused", userId: ids.zeroWidth, otherUserId: null },
        { tenant: "acme", field: "email", kind: "same_key", userId: ids.squatter, otherUserId: ids.lateOwner },
      ]),
    );
    expect(summary).toHaveLength(5);
    const lines = await identifierConflicts(db, { renormalize: false });
    expect(lines.join("\n")).toContain(`user ${ids.fullwidth} has the same key as "kate@example.com" (${ids.owner})`);
    expect(lines.at(-1)).toMatch(/^5 identifier conflict\(s\)/);
    expect(lines.join("\n")).not.toContain(hash);
  });

  it("can be run again: nothing changes, the same conflicts are reported", async () => {
    const again = await db.transaction().execute((tx) => renormalizeIdentifiers(tx, new Date()));
    expect(again.updated).toBe(0);
    expect(again.conflicts).toHaveLength(5);
  });

  it("frees the later user's key once the operator deletes the earlier one", async () => {
    await db.deleteFrom("users").where("id", "=", ids.squatter!).execute();
    await db.deleteFrom("users").where("id", "=", ids.owner!).execute();
    const lines = await identifierConflicts(db, { renormalize: true });
    expect(lines[0]).toBe("renormalized 6 users: 1 changed");
    expect(await row("fullwidth")).toMatchObject({ email_normalized: "kate@example.com", username_normalized: "kate" });
    // The Cyrillic twin was not the earliest either; with the owner gone it is the fullwidth one's lookalike.
    expect((await listIdentifierConflicts(db)).map((c) => [c.kind, c.userId])).toEqual(
      expect.arrayContaining([
        ["confusable", ids.cyrillic],
        ["refused", ids.zeroWidth],
      ]),
    );
  });
});
