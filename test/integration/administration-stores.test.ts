/**
 * The administration's stores (tenants, user directory, roles, audit trail, grants cache) on a real
 * PostgreSQL and on embedded PGlite: the same migrations and queries, asserting the stored rows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { RoleStore, UserDirectory } from "../../src/domain/admin/ports.js";
import { TENANT_PERMISSIONS_MAX_BYTES } from "../../src/domain/documents.js";
import { AuthError } from "../../src/domain/errors.js";
import type { TenantStore, UserRepository } from "../../src/domain/ports.js";
import { DEFAULT_TENANT_SETTINGS } from "../../src/domain/tenants.js";
import { createGrantsCache, grantsChannel } from "../../src/infra/grants.js";
import { createAuditLog, createAuditTrail } from "../../src/infra/postgres/audit.js";
import { ensureTenant, migrateToLatest, openDatabase } from "../../src/infra/postgres/database.js";
import { createRoleStore } from "../../src/infra/postgres/roles.js";
import type { Database } from "../../src/infra/postgres/schema.js";
import { createTenantStore } from "../../src/infra/postgres/tenants.js";
import { createUserDirectory } from "../../src/infra/postgres/user-directory.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";
import { createTestDatabase } from "../support/app.js";

const dirs: string[] = [];
const silent = pino({ level: "silent" });
const hash = "$bcrypt-sha256$v=2,t=2b,r=4$stored-hash-placeholder";

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(error)}`);
  return error;
}

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
])("the administration stores on %s", (_, open) => {
  let db: Kysely<Database>;
  let users: UserRepository;
  let tenants: TenantStore;
  let directory: UserDirectory;
  let roles: RoleStore;

  beforeAll(async () => {
    db = await open();
    await migrateToLatest(db);
    await ensureTenant(db, "default", "default");
    users = createUserRepository(db);
    tenants = createTenantStore(db);
    directory = createUserDirectory(db);
    roles = createRoleStore(db);
  });
  afterAll(async () => {
    await db?.destroy();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("creates a tenant with the base roles, refuses the same id twice, and stores its policy", async () => {
    const at = new Date("2026-11-25T10:00:00Z");
    const tenant = await tenants.create({
      id: "vigia",
      displayName: "Vigia",
      settings: { ...DEFAULT_TENANT_SETTINGS, passwordMinLength: 6, rolesRequired: true },
      createdAt: at,
    });
    expect(tenant).toMatchObject({ id: "vigia", displayName: "Vigia", isActive: true });
    expect(tenant.settings).toEqual({ passwordMinLength: 6, verifiedEmailRequired: null, rolesRequired: true, mfaRequired: false });
    expect((await roles.list("vigia", null, 10)).map((r) => r.name)).toEqual(["admin", "user"]);
    expect(
      (await rejection(tenants.create({ id: "vigia", displayName: "x", settings: DEFAULT_TENANT_SETTINGS, createdAt: at }))).reason,
    ).toBe("TENANT_EXISTS");
    const updated = await tenants.update("vigia", { settings: { mfaRequired: true }, isActive: false }, new Date());
    expect(updated?.settings).toMatchObject({ passwordMinLength: 6, rolesRequired: true, mfaRequired: true });
    expect(updated?.isActive).toBe(false);
    expect(await tenants.update("nope", { isActive: false }, new Date())).toBeNull();
    await tenants.update("vigia", { isActive: true }, new Date());
    // An existing tenant (made before administration existed) follows the service's settings.
    expect((await tenants.find("default"))?.settings).toEqual(DEFAULT_TENANT_SETTINGS);
    expect((await tenants.list("default", 10)).map((t) => t.id)).toEqual(["vigia"]);
  });

  it("numbers users in creation order, keeps an imported number, and moves the sequence past it", async () => {
    const first = await users.create({
      tenant: "vigia",
      email: "a@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: [],
    });
    const imported = await users.create({
      tenant: "vigia",
      email: "b@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: ["user"],
      number: first.number + 1000,
      attributes: { empleado_id: 456 },
    });
    expect(imported.number).toBe(first.number + 1000);
    expect(imported.attributes).toEqual({ empleado_id: 456 });
    const next = await users.create({
      tenant: "vigia",
      email: "c@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: [],
    });
    expect(next.number).toBe(first.number + 1001);
    const taken = await rejection(
      users.create({
        tenant: "vigia",
        email: "d@example.com",
        username: null,
        fullName: null,
        passwordHash: hash,
        roles: [],
        number: first.number,
      }),
    );
    expect(taken.reason).toBe("NUMBER_TAKEN");
    // Another tenant may hold the same number (numbers are per tenant, as the old systems' ids were).
    const elsewhere = await users.create({
      tenant: "default",
      email: "a@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: [],
      number: first.number,
    });
    expect(elsewhere.number).toBe(first.number);
    const missingRole = await rejection(
      users.create({ tenant: "vigia", email: "e@example.com", username: null, fullName: null, passwordHash: hash, roles: ["user", "qf"] }),
    );
    expect(missingRole).toMatchObject({ reason: "ROLE_NOT_FOUND", metadata: { role: "qf" } });
    expect(await directory.find("vigia", { number: first.number + 1000 })).toMatchObject({ email: "b@example.com" });
    expect(await directory.find("default", { id: imported.id })).toBeNull();
  });

  it("lists by number after a position, with prefix filters that treat % and _ as letters", async () => {
    for (const email of ["x_1@example.com", "x%2@example.com", "xy3@example.com"]) {
      await users.create({ tenant: "vigia", email, username: null, fullName: null, passwordHash: hash, roles: ["user"] });
    }
    const all = await directory.list("vigia", {}, null, 100);
    expect(all.map((u) => u.number)).toEqual([...all.map((u) => u.number)].sort((a, b) => a - b));
    expect((await directory.list("vigia", { emailPrefix: "x_" }, null, 10)).map((u) => u.email)).toEqual(["x_1@example.com"]);
    expect((await directory.list("vigia", { emailPrefix: "x%" }, null, 10)).map((u) => u.email)).toEqual(["x%2@example.com"]);
    expect((await directory.list("vigia", { emailPrefix: "x" }, null, 10)).length).toBe(3);
    expect((await directory.list("vigia", { role: "user" }, null, 100)).every((u) => u.roles.includes("user"))).toBe(true);
    const after = all[1]?.number ?? 0;
    expect((await directory.list("vigia", {}, after, 100)).map((u) => u.number)).toEqual(all.slice(2).map((u) => u.number));
  });

  it("role permissions reach users merged, a deleted role leaves its users, and names clash per tenant", async () => {
    await roles.create(
      "vigia",
      { name: "qf", description: "Qualified person", permissions: { icsr: { view: true } } },
      new Date(),
      TENANT_PERMISSIONS_MAX_BYTES,
    );
    await roles.create(
      "vigia",
      { name: "reporter", description: "", permissions: { reports: { view: true, generate: true } } },
      new Date(),
      TENANT_PERMISSIONS_MAX_BYTES,
    );
    expect(
      (await rejection(roles.create("vigia", { name: "qf", description: "", permissions: {} }, new Date(), TENANT_PERMISSIONS_MAX_BYTES)))
        .reason,
    ).toBe("ROLE_EXISTS");
    const user = await users.create({
      tenant: "vigia",
      email: "qf@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: ["qf"],
    });
    const set = await directory.setRoles(user.id, "vigia", ["reporter", "qf"], new Date());
    expect(set?.roles).toEqual(["reporter", "qf"]);
    expect(set?.permissions).toEqual({ reports: { view: true, generate: true }, icsr: { view: true } });
    expect((await rejection(directory.setRoles(user.id, "vigia", ["ghost"], new Date()))).reason).toBe("ROLE_NOT_FOUND");
    expect((await directory.find("vigia", { id: user.id }))?.roles).toEqual(["reporter", "qf"]);
    await roles.update("vigia", "qf", { permissions: { icsr: { view: true, edit: true } } }, new Date(), TENANT_PERMISSIONS_MAX_BYTES);
    expect((await directory.find("vigia", { id: user.id }))?.permissions).toMatchObject({ icsr: { view: true, edit: true } });
    expect((await roles.list("vigia", null, 10)).find((r) => r.name === "qf")?.userCount).toBe(1);
    expect(await roles.delete("vigia", "qf")).toBe(1);
    expect(await roles.delete("vigia", "qf")).toBeNull();
    expect((await directory.find("vigia", { id: user.id }))?.roles).toEqual(["reporter"]);
  });

  it("a role deleted while it is being given is ROLE_NOT_FOUND or gone with its users, never a broken statement", async () => {
    await ensureTenant(db, "racers", "racers");
    const user = await users.create({
      tenant: "racers",
      email: "racer@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: [],
    });
    for (let round = 0; round < 25; round++) {
      await roles.create("racers", { name: "racy", description: "", permissions: {} }, new Date(), TENANT_PERMISSIONS_MAX_BYTES);
      const outcomes = await Promise.allSettled([
        directory.setRoles(user.id, "racers", ["racy"], new Date()),
        roles.delete("racers", "racy"),
        users.create({
          tenant: "racers",
          email: `racer${round}@example.com`,
          username: null,
          fullName: null,
          passwordHash: hash,
          roles: ["racy"],
        }),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") {
          expect(outcome.reason, String(outcome.reason)).toBeInstanceOf(AuthError);
          expect((outcome.reason as AuthError).reason).toBe("ROLE_NOT_FOUND");
        }
      }
      await roles.delete("racers", "racy");
      // Whatever the order, nobody holds a role that does not exist.
      expect((await directory.find("racers", { id: user.id }))?.roles).toEqual([]);
    }
  });

  it("deletes a user with their roles and tokens, keeps their audit rows without the address, and frees the address", async () => {
    const user = await users.create({
      tenant: "vigia",
      email: "gone@example.com",
      username: "gone",
      fullName: null,
      passwordHash: hash,
      roles: ["user"],
    });
    const audit = createAuditLog(db, silent);
    await audit.record({
      type: "password_reset_requested",
      tenant: "vigia",
      userId: user.id,
      detail: { email: "gone@example.com", accountExists: true },
    });
    await audit.record({ type: "user_deleted", tenant: "vigia", userId: user.id, actorId: user.id });
    await db
      .insertInto("one_time_tokens")
      .values({
        id: crypto.randomUUID(),
        user_id: user.id,
        tenant_id: "vigia",
        purpose: "reset_password",
        token_hash: `h-${user.id}`,
        expires_at: new Date(Date.now() + 60_000),
        used_at: null,
      })
      .execute();
    // The epoch past the user's last, for ending their sessions; null the second time.
    expect(await directory.delete(user.id)).toBe(user.sessionEpoch + 1);
    expect(await directory.delete(user.id)).toBeNull();
    expect(await db.selectFrom("user_roles").select("role_name").where("user_id", "=", user.id).execute()).toEqual([]);
    expect(await db.selectFrom("one_time_tokens").select("id").where("user_id", "=", user.id).execute()).toEqual([]);
    const rows = await createAuditTrail(db).list({ tenant: "vigia", userId: user.id, limit: 10 });
    expect(rows.map((r) => r.type)).toEqual(["user_deleted", "password_reset_requested"]);
    expect(rows[1]?.details).toEqual({ accountExists: true });
    expect(rows[0]?.actorId).toBe(user.id);
    const again = await users.create({
      tenant: "vigia",
      email: "GONE@example.com",
      username: "gone",
      fullName: null,
      passwordHash: hash,
      roles: [],
    });
    expect(again.id).not.toBe(user.id);
  });

  it("pages the audit trail newest first and filters it by type and time", async () => {
    const audit = createAuditLog(db, silent);
    for (let i = 0; i < 5; i++) await audit.record({ type: "role_created", tenant: "default", detail: { i } });
    const trail = createAuditTrail(db);
    const first = await trail.list({ tenant: "default", type: "role_created", limit: 3 });
    expect(first.map((r) => r.details.i)).toEqual([4, 3, 2]);
    const next = await trail.list({ tenant: "default", type: "role_created", beforeId: first[2]?.id, limit: 3 });
    expect(next.map((r) => r.details.i)).toEqual([1, 0]);
    expect(await trail.list({ tenant: "default", since: new Date(Date.now() + 60_000), limit: 3 })).toEqual([]);
  });

  it("caches grants until a change is announced, and not past GRANTS_CACHE_TTL", async () => {
    let now = 1_000_000;
    const grants = createGrantsCache(db, {
      ttlMs: 30_000,
      maxUsers: 100,
      publisher: undefined,
      channel: "unused",
      logger: silent,
      now: () => now,
    });
    const user = await users.create({
      tenant: "vigia",
      email: "cache@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: ["user"],
    });
    expect(await grants.of(user.id)).toEqual({ tenant: "vigia", roles: ["user"], permissions: {} });
    await directory.setRoles(user.id, "vigia", ["reporter"], new Date());
    // Unannounced: the cached answer stands until it expires.
    expect((await grants.of(user.id))?.roles).toEqual(["user"]);
    now += 30_001;
    expect((await grants.of(user.id))?.roles).toEqual(["reporter"]);
    await directory.setRoles(user.id, "vigia", ["user"], new Date());
    await grants.changed({ tenant: "vigia", userId: user.id });
    expect((await grants.of(user.id))?.roles).toEqual(["user"]);
    await roles.update("vigia", "user", { permissions: { me: { view: true } } }, new Date(), TENANT_PERMISSIONS_MAX_BYTES);
    grants.apply(JSON.stringify({ tenant: "vigia" }));
    expect((await grants.of(user.id))?.permissions).toEqual({ me: { view: true } });
    expect(await grants.of("00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  it("shares one load among concurrent misses, but not with a caller who came after a change", async () => {
    let statements = 0;
    const counted = db.withPlugin({
      transformQuery: (args) => {
        statements += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const grants = createGrantsCache(counted, { ttlMs: 30_000, maxUsers: 100, publisher: undefined, channel: "unused", logger: silent });
    const user = await users.create({
      tenant: "vigia",
      email: "single-flight@example.com",
      username: null,
      fullName: null,
      passwordHash: hash,
      roles: ["user"],
    });
    const burst = await Promise.all(Array.from({ length: 50 }, () => grants.of(user.id)));
    expect(statements).toBe(1);
    expect(new Set(burst.map((g) => g?.roles.join()))).toEqual(new Set(["user"]));
    // A change announced while a load is under way (all in one synchronous stretch, so that load
    // is still under way): the caller after it gets a load of its own, and only that one is kept.
    await directory.setRoles(user.id, "vigia", ["reporter"], new Date());
    await grants.changed({ tenant: "vigia", userId: user.id });
    statements = 0;
    const before = grants.of(user.id);
    const announced = grants.changed({ tenant: "vigia", userId: user.id });
    const after = grants.of(user.id);
    await Promise.all([before, announced, after]);
    expect(statements).toBe(2);
    expect((await after)?.roles).toEqual(["reporter"]);
    expect((await grants.of(user.id))?.roles).toEqual(["reporter"]);
    expect(statements).toBe(2);
  });
});

describe("grants changes between instances", () => {
  it("reach another instance's cache through Redis at once", async () => {
    const db = openDatabase({ url: await createTestDatabase(), dataDir: "unused", poolMax: 2, onPoolError: () => {} });
    const publisher = new Redis(inject("redisUrl"));
    const subscriber = new Redis(inject("redisUrl"));
    try {
      await migrateToLatest(db);
      await ensureTenant(db, "default", "default");
      const user = await createUserRepository(db).create({
        tenant: "default",
        email: "two@example.com",
        username: null,
        fullName: null,
        passwordHash: hash,
        roles: ["user"],
      });
      const channel = grantsChannel(`t${Date.now()}:`);
      const options = { ttlMs: 600_000, maxUsers: 100, channel, logger: silent };
      const here = createGrantsCache(db, { ...options, publisher });
      const there = createGrantsCache(db, { ...options, publisher: undefined });
      const received = new Promise<void>((resolve) =>
        subscriber.on("message", (_c: string, message: string) => {
          there.apply(message);
          resolve();
        }),
      );
      await subscriber.subscribe(channel);
      expect((await there.of(user.id))?.roles).toEqual(["user"]);
      await createUserDirectory(db).setRoles(user.id, "default", ["admin"], new Date());
      await here.changed({ tenant: "default", userId: user.id });
      await received;
      expect((await there.of(user.id))?.roles).toEqual(["admin"]);
    } finally {
      publisher.disconnect();
      subscriber.disconnect();
      await db.destroy();
    }
  });
});
