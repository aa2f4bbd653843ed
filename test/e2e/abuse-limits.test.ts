/**
 * The abuse limits on real Redis, with two service instances on the same PostgreSQL and Redis:
 * guessing one account from one address is locked on every route that checks a password (and
 * across both instances and every transport), spraying is throttled per address and per account,
 * the owner keeps signing in and asking for her reset, the waits are real, forwarded addresses
 * count only from trusted proxies, and Solicitud Transporte's own client sees its 429. Short
 * windows (2-3 s locks) instead of a test clock: the limits live in Redis, whose TTLs follow real
 * time. Nothing here asserts a speed.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createAdmin } from "../../src/cli/create-admin.js";
import { createAdminGrpcClient, createAdminRestClient } from "../support/admin-clients.js";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import {
  bearer,
  type CallResult,
  createConnectClient,
  createGrpcClient,
  createRestClient,
  failed,
  ok,
  type TestClient,
} from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, recipientOf, type TestSmtp } from "../support/smtp.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

const LIMITS = {
  TRUSTED_PROXIES: "127.0.0.1/32",
  LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "3",
  LOGIN_LOCK_DURATION: "2s",
  LOGIN_LOCK_MAX_DURATION: "3s",
  LOGIN_MAX_FAILURES_PER_ACCOUNT: "6",
  LOGIN_ACCOUNT_WINDOW: "1h",
  LOGIN_MAX_FAILURES_PER_ADDRESS: "8",
  LOGIN_ADDRESS_WINDOW: "1h",
  MAIL_PER_CLIENT_PER_HOUR: "4",
  MAIL_PER_ADDRESS_PER_HOUR: "3",
  MAIL_OWNER_PER_HOUR: "2",
};

/** A client address of its own for each scenario (the tests reach the service from 127.0.0.1, a trusted proxy). */
let nextAddress = 1;
const freshAddress = () => `198.51.100.${nextAddress++}`;
const uniqueEmail = (tag: string) => `${tag}.${randomBytes(5).toString("hex")}@example.com`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What any route answered, in one shape: ok, or the status / code, reason and the wait it told. */
interface Answer {
  readonly ok: boolean;
  readonly reason?: string;
  /** HTTP status, or the gRPC code name. */
  readonly status?: number | string;
  readonly retryAfter?: string;
  readonly retryDelayMs?: number;
  readonly body?: any;
}

const fromCall = (result: CallResult): Answer =>
  result.ok
    ? { ok: true }
    : {
        ok: false,
        reason: result.reason,
        status: result.httpStatus ?? result.code,
        ...(result.retryAfter === undefined ? {} : { retryAfter: result.retryAfter }),
        ...(result.retryDelayMs === undefined ? {} : { retryDelayMs: result.retryDelayMs }),
      };

async function fromFetch(response: Response): Promise<Answer> {
  const body = (await response.json()) as any;
  const retryAfter = response.headers.get("retry-after");
  return response.ok
    ? { ok: true, body }
    : { ok: false, status: response.status, reason: body.reason, body, ...(retryAfter === null ? {} : { retryAfter }) };
}

type Route = "grpc" | "connect" | "rest" | "oauth" | "vidaplus" | "vigia" | "solicitud" | "ucontact";

describe("abuse limits, shared by two instances", () => {
  let smtp: TestSmtp;
  let a: TestApp;
  let b: TestApp;
  let databaseUrl: string;
  let redisKeyPrefix: string;
  const clients = new Map<TestApp, Record<"grpc" | "connect" | "rest", TestClient>>();

  beforeAll(async () => {
    smtp = await createTestSmtp();
    databaseUrl = await createTestDatabase();
    redisKeyPrefix = `abuse${randomBytes(3).toString("hex")}:`;
    const env = { ...LIMITS, SMTP_URL: smtp.url };
    a = await startTestApp({ name: "abuse-a", databaseUrl, redisKeyPrefix, env });
    b = await startTestApp({ name: "abuse-b", databaseUrl, redisKeyPrefix, env });
    for (const app of [a, b]) {
      clients.set(app, {
        grpc: createGrpcClient(app.grpcAddress),
        connect: createConnectClient(app.baseUrl),
        rest: createRestClient(app.baseUrl),
      });
    }
  });
  afterAll(async () => {
    for (const set of clients.values()) for (const client of Object.values(set)) client.close();
    await a?.stop();
    await b?.stop();
    await smtp?.stop();
  });

  const xff = (address: string) => ({ "x-forwarded-for": address });
  const client = (app: TestApp, transport: "grpc" | "connect" | "rest") => clients.get(app)![transport];

  /** Signs in by `route` on `app` as if from `address`. */
  async function login(route: Route, app: TestApp, identifier: string, password: string, address: string): Promise<Answer> {
    if (route === "grpc" || route === "connect" || route === "rest") {
      return fromCall(await client(app, route).call("Login", { identifier, password }, xff(address)));
    }
    const form = (fields: Record<string, string>) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...xff(address) },
      body: new URLSearchParams(fields).toString(),
    });
    const paths = { oauth: "/v1/auth/token", vidaplus: "/auth/token", vigia: "/api/v1/auth/login", ucontact: "/api/auth/login" };
    if (route === "solicitud") {
      return fromFetch(
        await fetch(`${app.baseUrl}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json", ...xff(address) },
          body: JSON.stringify({ username: identifier, password }),
        }),
      );
    }
    const fields = { username: identifier, password, ...(route === "oauth" ? { grant_type: "password" } : {}) };
    return fromFetch(await fetch(`${app.baseUrl}${paths[route]}`, form(fields)));
  }

  /** A new user, registered from an address of its own (Register draws on the mail budget of its client). */
  async function newUser(tag = "user") {
    const email = uniqueEmail(tag);
    const password = newPassword();
    const { user } = ok(await client(a, "grpc").call("Register", { email, password }, xff(freshAddress())));
    return { email, password, userId: user.id as string };
  }

  async function auditOf(userId: string, type: string) {
    return a.app.db
      .selectFrom("audit_events")
      .select(["type", "ip", "details"])
      .where("user_id", "=", userId)
      .where("type", "=", type)
      .execute();
  }

  /** An answer refusing with `reason`, in the route's own shape, with a wait of at most `maxSeconds`. */
  function expectRefused(answer: Answer, reason: string, maxSeconds: number) {
    expect(answer).toMatchObject({ ok: false, reason });
    if (typeof answer.status === "number") {
      expect(answer.status).toBe(429);
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(maxSeconds);
    } else {
      expect(answer.status).toBe("RESOURCE_EXHAUSTED");
      expect(answer.retryDelayMs).toBeGreaterThan(0);
      expect(answer.retryDelayMs).toBeLessThanOrEqual(maxSeconds * 1000);
    }
  }

  describe("guessing one account from one address", () => {
    const routes: readonly Route[] = ["grpc", "connect", "rest", "oauth", "vidaplus", "vigia", "solicitud", "ucontact"];

    it.each(routes)("is locked after the configured failures via %s, counted by both instances and every transport", async (route) => {
      const user = await newUser(route);
      const address = freshAddress();
      const other: Route = route === "grpc" ? "connect" : "grpc";
      const wrong = newPassword();
      // Three failures: this route on A, another transport on B, this route on B.
      for (const [r, app] of [
        [route, a],
        [other, b],
        [route, b],
      ] as const) {
        expect((await login(r, app, user.email, wrong, address)).ok).toBe(false);
      }
      // The right password now costs nothing and is refused, on either instance.
      const refused = await login(route, a, user.email, user.password, address);
      expectRefused(refused, "ACCOUNT_LOCKED", 2);
      if (route === "solicitud") expect(refused.body).toMatchObject({ exito: false, mensaje: "Demasiadas solicitudes" });
      if (route === "vidaplus" || route === "vigia" || route === "ucontact") expect(typeof refused.body.detail).toBe("string");
      if (route === "oauth")
        expect(refused.body).toMatchObject({ error: "temporarily_unavailable", error_description: expect.any(String) });
      expectRefused(await login(other, b, user.email, user.password, address), "ACCOUNT_LOCKED", 2);
      const [locked] = await auditOf(user.userId, "account_locked");
      expect(locked).toMatchObject({ ip: address, details: { kind: "password", lockMs: 2000, locksToday: 1 } });
    });

    it("counts ChangePassword's current password in the same budget", async () => {
      const user = await newUser("change");
      const address = freshAddress();
      const session = ok(await client(a, "connect").call("Login", { identifier: user.email, password: user.password }, xff(address)));
      const headers = { ...bearer(session.accessToken), ...xff(address) };
      const change = (app: TestApp, transport: "grpc" | "connect" | "rest", current: string) =>
        client(app, transport).call("ChangePassword", { currentPassword: current, newPassword: newPassword() }, headers);
      for (const [app, transport] of [
        [a, "connect"],
        [b, "rest"],
        [a, "grpc"],
      ] as const) {
        expect(failed(await change(app, transport, newPassword())).reason).toBe("INVALID_CREDENTIALS");
      }
      expectRefused(fromCall(await change(b, "grpc", user.password)), "ACCOUNT_LOCKED", 2);
      // One budget: the same pair cannot sign in either; the owner elsewhere can.
      expectRefused(await login("rest", a, user.email, user.password, address), "ACCOUNT_LOCKED", 2);
      expect((await login("rest", a, user.email, user.password, freshAddress())).ok).toBe(true);
    });

    it("lets the owner sign in from another address while the attacker's is locked", async () => {
      const user = await newUser("owner");
      const attacker = freshAddress();
      for (let i = 0; i < 3; i++) await login("grpc", i % 2 ? a : b, user.email, newPassword(), attacker);
      expectRefused(await login("grpc", a, user.email, user.password, attacker), "ACCOUNT_LOCKED", 2);
      expect((await login("rest", b, user.email, user.password, freshAddress())).ok).toBe(true);
      // Her success elsewhere does not unlock the attacker's address.
      expectRefused(await login("connect", a, user.email, user.password, attacker), "ACCOUNT_LOCKED", 2);
    });

    it("locks an identifier that names nobody exactly like an account", async () => {
      const known = await newUser("known");
      const unknown = uniqueEmail("nobody");
      const address = freshAddress();
      const answers: Answer[][] = [[], []];
      for (const [i, identifier] of [known.email, unknown].entries()) {
        for (let n = 0; n < 4; n++)
          answers[i]!.push(await login("rest", n % 2 ? a : b, identifier, recordSecret(`wrong-${n}-password`), address));
      }
      const shape = (list: Answer[]) => list.map((x) => [x.status, x.reason, x.retryAfter]);
      expect(shape(answers[0]!)).toEqual(shape(answers[1]!));
      expect(answers[0]![3]).toMatchObject({ status: 429, reason: "ACCOUNT_LOCKED" });
    });

    it("tells the real wait, lets a correct login in after it, and doubles the next lock", async () => {
      const user = await newUser("wait");
      const address = freshAddress();
      // Her own address (she signed in from it): the per-account throttle, which these nine
      // failures would reach, does not apply there; the pair's lock does.
      expect((await login("grpc", a, user.email, user.password, address)).ok).toBe(true);
      const lockOut = async () => {
        for (let i = 0; i < 3; i++) await login("grpc", a, user.email, newPassword(), address);
        const refused = await login("grpc", b, user.email, user.password, address);
        expect(refused).toMatchObject({ ok: false, reason: "ACCOUNT_LOCKED" });
        return refused.retryDelayMs ?? 0;
      };
      const first = await lockOut();
      expect(first).toBeGreaterThan(1000);
      expect(first).toBeLessThanOrEqual(2000);
      await sleep(first + 100);
      // The second lock of the day is longer (capped at LOGIN_LOCK_MAX_DURATION, 3 s).
      const second = await lockOut();
      expect(second).toBeGreaterThan(2000);
      expect(second).toBeLessThanOrEqual(3000);
      const rest = await login("rest", a, user.email, user.password, address);
      expect(Number(rest.retryAfter)).toBeGreaterThanOrEqual(2);
      expect(Number(rest.retryAfter)).toBeLessThanOrEqual(3);
      await sleep(second + 100);
      expect((await login("rest", a, user.email, user.password, address)).ok).toBe(true);
      // The success forgot the locks: the next one is the first again.
      expect(await lockOut()).toBeLessThanOrEqual(2000);
    });

    it("gives a burst of concurrent guesses no more than the handful", async () => {
      const user = await newUser("burst");
      const address = freshAddress();
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => login(i % 2 ? "grpc" : "rest", i % 3 ? a : b, user.email, newPassword(), address)),
      );
      const checked = answers.filter((x) => x.reason === "INVALID_CREDENTIALS");
      expect(checked.length).toBeLessThanOrEqual(3);
      expect(
        answers.filter((x) => x.reason === "INVALID_CREDENTIALS" || x.reason === "RATE_LIMITED" || x.reason === "ACCOUNT_LOCKED"),
      ).toHaveLength(12);
      expect((await auditOf(user.userId, "login_failed")).length).toBe(checked.length);
    });
  });

  it("throttles one address spraying many accounts, except on accounts that signed in from it", async () => {
    const sprayer = freshAddress();
    const regular = await newUser("regular");
    // She signed in from this address before (a shared office, say).
    expect((await login("grpc", a, regular.email, regular.password, sprayer)).ok).toBe(true);
    const victims = [await newUser("v"), await newUser("v"), await newUser("v"), await newUser("v")];
    const targets = [...victims.map((v) => v.email), uniqueEmail("x"), uniqueEmail("x"), uniqueEmail("x"), uniqueEmail("x")];
    for (const [i, target] of targets.entries()) {
      expect(await login(i % 2 ? "rest" : "grpc", i % 3 ? a : b, target, newPassword(), sprayer)).toMatchObject({
        reason: "INVALID_CREDENTIALS",
      });
    }
    const next = await newUser("next");
    const refused = await login("oauth", b, next.email, next.password, sprayer);
    expectRefused(refused, "RATE_LIMITED", 3600);
    expect(refused.body.error_description).toMatch(/from your address/);
    // The same account from elsewhere, and the regular from the sprayer's address, are fine.
    expect((await login("grpc", a, next.email, next.password, freshAddress())).ok).toBe(true);
    expect((await login("grpc", a, regular.email, regular.password, sprayer)).ok).toBe(true);
  });

  it("slows one account guessed from many addresses, but not its owner at her own address", async () => {
    const user = await newUser("spread");
    const home = freshAddress();
    expect((await login("rest", a, user.email, user.password, home)).ok).toBe(true);
    for (let i = 0; i < 6; i++) {
      // gRPC metadata on B, an HTTP header on A: both are forwarded addresses from a trusted peer.
      const answer = await login(i % 2 ? "grpc" : "rest", i % 2 ? b : a, user.email, newPassword(), freshAddress());
      expect(answer.reason).toBe("INVALID_CREDENTIALS");
    }
    const newcomer = await login("grpc", b, user.email, user.password, freshAddress());
    expectRefused(newcomer, "RATE_LIMITED", 3600);
    expect(newcomer.retryDelayMs).toBeGreaterThan(60_000);
    expectRefused(await login("connect", a, user.email, newPassword(), freshAddress()), "RATE_LIMITED", 3600);
    expect((await login("grpc", a, user.email, user.password, home)).ok).toBe(true);
    // One audit event per throttling, not one per refused call.
    const throttled = await auditOf(user.userId, "login_throttled");
    expect(throttled.map((e) => (e.details as Record<string, unknown>).limit)).toEqual(["account"]);
    const metrics = await (await fetch(a.metricsUrl)).text();
    expect(metrics).toMatch(/auth_rate_limited_total\{limit="account"\} [1-9]/);
  });

  describe("mail", () => {
    const mailsTo = (address: string) => smtp.messages.filter((m) => recipientOf(m).includes(address.toLowerCase())).length;
    const drain = () => Promise.all([a.app.drainBackground(5000), b.app.drainBackground(5000)]);

    it("sends a third party no more than the configured mails, and one client no more than its budget", async () => {
      // Her verification mail was the first of the three her mailbox may be sent this hour.
      const victim = await newUser("victim");
      await drain();
      const asker = freshAddress();
      for (let i = 0; i < 2; i++) {
        expect(ok(await client(i % 2 ? a : b, "rest").call("RequestPasswordReset", { email: victim.email }, xff(asker)))).toBeDefined();
      }
      expectRefused(
        fromCall(await client(a, "grpc").call("RequestPasswordReset", { email: victim.email }, xff(asker))),
        "RATE_LIMITED",
        3600,
      );
      expectRefused(
        fromCall(await client(b, "rest").call("ResendVerification", { email: victim.email }, xff(freshAddress()))),
        "RATE_LIMITED",
        3600,
      );
      await drain();
      expect(mailsTo(victim.email)).toBe(3);

      // One client registering strangers' addresses: four, then refused, and nothing mailed to the fifth.
      const registrar = freshAddress();
      const strangers = [uniqueEmail("s"), uniqueEmail("s"), uniqueEmail("s"), uniqueEmail("s"), uniqueEmail("s")];
      for (const email of strangers.slice(0, 4))
        ok(await client(a, "grpc").call("Register", { email, password: newPassword() }, xff(registrar)));
      const fifth = await client(b, "connect").call("Register", { email: strangers[4], password: newPassword() }, xff(registrar));
      expectRefused(fromCall(fifth), "RATE_LIMITED", 3600);
      expect(fromCall(fifth)).toMatchObject({ status: 429 });
      await drain();
      expect(strangers.map(mailsTo)).toEqual([1, 1, 1, 1, 0]);
    });

    it("lets the owner ask for her reset after an attacker exhausted the anonymous budget for her address", async () => {
      const owner = await newUser("recover");
      await drain();
      const home = freshAddress();
      expect((await login("grpc", b, owner.email, owner.password, home)).ok).toBe(true);
      // Her verification mail, then the attacker's two: the anonymous budget (3) is spent.
      for (let i = 0; i < 2; i++) ok(await client(a, "grpc").call("RequestPasswordReset", { email: owner.email }, xff(freshAddress())));
      expectRefused(
        fromCall(await client(a, "rest").call("RequestPasswordReset", { email: owner.email }, xff(freshAddress()))),
        "RATE_LIMITED",
        3600,
      );
      await drain();
      const before = mailsTo(owner.email);
      ok(await client(b, "rest").call("RequestPasswordReset", { email: owner.email }, xff(home)));
      await drain();
      expect(mailsTo(owner.email)).toBe(before + 1);
      // Her own budget is finite too.
      ok(await client(a, "connect").call("RequestPasswordReset", { email: owner.email }, xff(home)));
      expectRefused(
        fromCall(await client(a, "grpc").call("RequestPasswordReset", { email: owner.email }, xff(home))),
        "RATE_LIMITED",
        3600,
      );
    });
  });

  it("never limits ValidateToken", async () => {
    const address = freshAddress();
    for (let i = 0; i < 30; i++) {
      const answer = ok(await client(i % 2 ? a : b, "grpc").call("ValidateToken", { token: `not.a.token${i}` }, xff(address)));
      expect(answer.active).toBe(false);
    }
  });

  it("records the forwarded address of a trusted proxy, and an admin lifts a lock from the command line", async () => {
    const user = await newUser("unlock");
    const address = freshAddress();
    for (let i = 0; i < 3; i++) await login("grpc", a, user.email, newPassword(), address);
    expectRefused(await login("grpc", a, user.email, user.password, address), "ACCOUNT_LOCKED", 2);
    const [event] = await auditOf(user.userId, "login_failed");
    expect(event?.ip).toBe(address);

    const cli = (args: string[]) =>
      run("npm", ["run", "--silent", "cli", "--", ...args], {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: databaseUrl,
          REDIS_URL: inject("redisUrl"),
          REDIS_KEY_PREFIX: redisKeyPrefix,
        },
        timeout: 60_000,
      });
    const { stdout } = await cli(["unlock", "--email", user.email.toUpperCase(), "--ip", address]);
    expect(stdout).toBe(`unlocked ${user.email.toUpperCase()} (${user.userId}) at ${address}: cleared 3 counter(s)\n`);
    expect((await login("rest", b, user.email, user.password, address)).ok).toBe(true);
    const [lifted] = await auditOf(user.userId, "login_unlocked");
    expect(lifted?.details).toMatchObject({ by: "operator", address });
    expect((await cli(["unlock", "--user-id", user.userId])).stdout).toBe(
      `nothing was locked for ${user.email} (${user.userId}) at every address\n`,
    );
  });

  it("lets a tenant admin lift a lock through the AdminService (UnlockUser), at one address or at all", async () => {
    const adminPassword = newPassword();
    const adminEmail = uniqueEmail("admin");
    await createAdmin(a.app.db, a.config, {
      email: adminEmail,
      username: undefined,
      fullName: undefined,
      tenant: "default",
      password: adminPassword,
    });
    const session = ok(await client(a, "grpc").call("Login", { identifier: adminEmail, password: adminPassword }, xff(freshAddress())));
    const admin = bearer(session.accessToken);
    const user = await newUser("unlocked");
    const [one, two] = [freshAddress(), freshAddress()];
    for (const address of [one, two]) for (let i = 0; i < 3; i++) await login("grpc", a, user.email, newPassword(), address);

    const rest = createAdminRestClient(b.baseUrl);
    const lifted = ok(await rest.call("UnlockUser", { tenant: "default", userId: user.userId, clientAddress: one }, admin));
    expect(lifted.countersCleared).toBeGreaterThanOrEqual(1);
    expect((await login("rest", a, user.email, user.password, one)).ok).toBe(true);
    expectRefused(await login("rest", a, user.email, user.password, two), "ACCOUNT_LOCKED", 2);
    expect(
      failed(await rest.call("UnlockUser", { tenant: "default", userId: user.userId, clientAddress: "not-an-ip" }, admin)).reason,
    ).toBe("INVALID_REQUEST");

    const grpc = createAdminGrpcClient(a.grpcAddress);
    try {
      ok(await grpc.call("UnlockUser", { tenant: "default", userId: user.userId }, admin));
    } finally {
      grpc.close();
    }
    expect((await login("grpc", b, user.email, user.password, two)).ok).toBe(true);
    const events = await a.app.db
      .selectFrom("audit_events")
      .select(["actor_id", "details"])
      .where("user_id", "=", user.userId)
      .where("type", "=", "login_unlocked")
      .orderBy("created_at")
      .execute();
    expect(events).toHaveLength(2);
    expect(events[0]?.actor_id).toBe(session.user.id);
    expect(events[0]?.details).toMatchObject({ by: "admin", address: one });
  });

  it("shows Solicitud Transporte's own client its 429, then it waits as told and signs in", async () => {
    const user = await newUser("solicitud");
    const wrong = newPassword();
    const { stdout } = await run(
      "/usr/bin/python3",
      [join(root, "test", "seeds", "002_handle_auth_error.py"), user.email, wrong, user.password],
      {
        env: { PATH: process.env.PATH, BASE_URL: a.baseUrl },
        timeout: 60_000,
      },
    );
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.slice(0, 3).map((l) => l.status)).toEqual([422, 422, 422]);
    expect(lines[3]).toEqual({
      status: 429,
      body: {
        exito: false,
        mensaje: "Demasiadas solicitudes",
        detalle: "Demasiados intentos fallidos desde su dirección; espere antes de reintentar.",
        reason: "ACCOUNT_LOCKED",
      },
    });
    expect(lines[4].waiting).toBeGreaterThanOrEqual(1);
    expect(lines[5]).toEqual({ retried: 200, exito: true });
  });
});

describe("a forwarded address from a peer that is not a trusted proxy", () => {
  let app: TestApp;
  let grpc: TestClient;

  beforeAll(async () => {
    app = await startTestApp({ name: "abuse-untrusted", env: { ...LIMITS, TRUSTED_PROXIES: "" } });
    grpc = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    grpc?.close();
    await app?.stop();
  });

  it("is ignored: every guess counts against the real peer", async () => {
    const email = uniqueEmail("spoof");
    const password = newPassword();
    const { user } = ok(await grpc.call("Register", { email, password }));
    for (let i = 0; i < 3; i++) {
      const spoofed = { "x-forwarded-for": freshAddress(), forwarded: `for=${freshAddress()}` };
      expect(failed(await grpc.call("Login", { identifier: email, password: newPassword() }, spoofed)).reason).toBe("INVALID_CREDENTIALS");
    }
    const response = await fetch(`${app.baseUrl}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": freshAddress() },
      body: JSON.stringify({ identifier: email, password }),
    });
    expect(response.status).toBe(429);
    expect(((await response.json()) as any).details[0].reason).toBe("ACCOUNT_LOCKED");
    const rows = await app.app.db
      .selectFrom("audit_events")
      .select("ip")
      .where("user_id", "=", user.id)
      .where("type", "=", "login_failed")
      .execute();
    expect(rows.map((r) => r.ip)).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
  });
});
