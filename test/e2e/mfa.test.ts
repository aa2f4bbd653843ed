/**
 * Multi-factor authentication end to end: real servers on real PostgreSQL and Redis, real clients
 * over gRPC, Connect and REST, the OAuth token endpoint and Solicitud Transporte's routes. Codes
 * come from an independent implementation (otplib) on the app's controlled clock; the QR code is
 * read back with a QR decoder (jsQR over pngjs), as a phone would.
 */
import { randomBytes } from "node:crypto";
import jsqr from "jsqr";
import { generateSync } from "otplib";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapPlatformAdmin } from "../../src/cli/create-admin.js";
import { createAdminGrpcClient } from "../support/admin-clients.js";
import { startTestApp, type TestApp, type TestClock } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient, transports } from "../support/clients.js";
import { newPassword, recordCode, recordRecoveryCode, recordSecret } from "../support/secrets.js";

const STEP_MS = 30_000;

/** Moves the clock to one second into a fresh time step: a test then has 28 s before the next one. */
function freshStep(clock: TestClock): void {
  clock.advance(STEP_MS - (clock.now() % STEP_MS) + 1000);
}

/** The code an authenticator app holding `secret` shows `steps` steps from the app's now. */
function codeFor(secret: string, clock: TestClock, steps = 0): string {
  return recordCode(generateSync({ secret, epoch: Math.floor(clock.now() / 1000) + (steps * STEP_MS) / 1000 }));
}

/** A code that is not the current one, nor one of the window's. */
function wrongCode(secret: string, clock: TestClock): string {
  const valid = new Set([-1, 0, 1].map((steps) => codeFor(secret, clock, steps)));
  for (let n = 0; ; n++) {
    const candidate = String((Number(codeFor(secret, clock)) + 500_000 + n) % 1_000_000).padStart(6, "0");
    if (!valid.has(candidate)) return recordCode(candidate);
  }
}

// jsqr is CommonJS whose types declare an ES default export: under Node's ESM the function is the
// module itself (and, as the bundler left it, its `default` too).
const jsQR = jsqr.default;

/** What the QR code in a PNG data URL says. */
function readQr(dataUrl: string): string | undefined {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl);
  if (match?.[1] === undefined) throw new Error("not a PNG data URL");
  const png = PNG.sync.read(Buffer.from(match[1], "base64"));
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}

const kek = recordSecret(randomBytes(32).toString("base64"));
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ name: "mfa", env: { KEY_ENCRYPTION_KEY: kek, MFA_ISSUER_NAME: "ONI_Justicia" } });
});
afterAll(async () => {
  await app?.stop();
});

/** A registered user, signed in with the password, on `client`. */
async function newUser(client: TestClient) {
  const email = `mfa.${randomBytes(5).toString("hex")}@example.com`;
  const password = newPassword();
  ok(await client.call("Register", { email, password }));
  const login = ok(await client.call("Login", { identifier: email, password }));
  expect(login.mfaRequired).toBe(false);
  return { email, password, accessToken: login.accessToken as string };
}

/**
 * A user with MFA on: enrolled and confirmed over `client`, the clock then moved into a fresh
 * step three steps on, so that the window around it holds no step used already.
 */
async function enrolledUser(client: TestClient) {
  const user = await newUser(client);
  freshStep(app.clock);
  const begun = ok(await client.call("BeginMfaEnrollment", {}, bearer(user.accessToken)));
  const secret = recordSecret(begun.secret as string);
  const confirmed = ok(await client.call("ConfirmMfaEnrollment", { code: codeFor(secret, app.clock) }, bearer(user.accessToken)));
  app.clock.advance(2 * STEP_MS);
  freshStep(app.clock);
  return { ...user, secret, begun, recoveryCodes: confirmed.recoveryCodes as string[] };
}

describe.each(transports)("MFA over $name", ({ connect }) => {
  let client: TestClient;
  beforeAll(() => {
    client = connect(app);
  });
  afterAll(() => client?.close());

  /** Login's answer to a user with MFA on: a ticket, and no tokens at all. */
  async function ticketFor(user: { email: string; password: string }): Promise<string> {
    const login = ok(await client.call("Login", { identifier: user.email, password: user.password }));
    expect(login).toMatchObject({
      mfaRequired: true,
      mfaEnrollmentRequired: false,
      accessToken: "",
      refreshToken: "",
      mfaTicketExpiresIn: 300,
    });
    expect(login.mfaTicket).toMatch(/^mfa\./);
    return login.mfaTicket;
  }

  it("enrols: the URI and the QR code are what an authenticator app reads, and MFA is on only once a code confirms it", async () => {
    const user = await newUser(client);
    freshStep(app.clock);
    const begun = ok(await client.call("BeginMfaEnrollment", {}, bearer(user.accessToken)));
    const secret = recordSecret(begun.secret as string);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits in base32
    expect(begun).toMatchObject({ issuer: "ONI_Justicia", account: user.email, algorithm: "SHA1", digits: 6, period: 30 });
    const uri = new URL(begun.otpauthUri);
    expect([uri.protocol, uri.host, decodeURIComponent(uri.pathname)]).toEqual(["otpauth:", "totp", `/ONI_Justicia:${user.email}`]);
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret, issuer: "ONI_Justicia", algorithm: "SHA1", digits: "6", period: "30" });
    expect(readQr(begun.qrCodePng)).toBe(begun.otpauthUri);

    // Not on yet: the status says pending, and Login still answers tokens.
    expect(ok(await client.call("GetMfaStatus", {}, bearer(user.accessToken)))).toMatchObject({ enabled: false, enrollmentPending: true });
    expect(ok(await client.call("Login", { identifier: user.email, password: user.password })).accessToken).not.toBe("");
    expect(
      failed(await client.call("ConfirmMfaEnrollment", { code: wrongCode(secret, app.clock) }, bearer(user.accessToken))),
    ).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "MFA_CODE_INVALID",
    });

    const confirmed = ok(await client.call("ConfirmMfaEnrollment", { code: codeFor(secret, app.clock) }, bearer(user.accessToken)));
    expect(confirmed.recoveryCodes).toHaveLength(10);
    for (const code of confirmed.recoveryCodes) expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(ok(await client.call("GetMfaStatus", {}, bearer(user.accessToken)))).toMatchObject({
      enabled: true,
      recoveryCodesRemaining: 10,
      enrollmentPending: false,
    });
    expect(failed(await client.call("BeginMfaEnrollment", {}, bearer(user.accessToken)))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "MFA_ALREADY_ENABLED",
    });
  });

  it("signs in with a code: Login answers a ticket and no tokens, VerifyMfa the session, and ValidateToken says amr", async () => {
    const user = await enrolledUser(client);
    const ticket = await ticketFor(user);
    const signedIn = ok(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }));
    expect(signedIn).toMatchObject({ tokenType: "Bearer", user: { email: user.email } });
    const validated = ok(await client.call("ValidateToken", { token: signedIn.accessToken }));
    expect(validated).toMatchObject({ active: true, amr: ["pwd", "otp", "mfa"] });
    // A password-only session says so too.
    expect(ok(await client.call("ValidateToken", { token: user.accessToken })).amr).toEqual(["pwd"]);
    // The refreshed session keeps how it began.
    const refreshed = ok(await client.call("Refresh", { refreshToken: signedIn.refreshToken }));
    expect(ok(await client.call("ValidateToken", { token: refreshed.accessToken })).amr).toEqual(["pwd", "otp", "mfa"]);
    // The ticket was used.
    expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock, 1) }))).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "MFA_TICKET_INVALID",
    });
  });

  it("signs in with a recovery code once, typed in any case, and the same code then fails", async () => {
    const user = await enrolledUser(client);
    const [first] = user.recoveryCodes;
    const typed = recordRecoveryCode(first!.toLowerCase().replaceAll("-", " "));
    const signedIn = ok(await client.call("VerifyMfa", { mfaTicket: await ticketFor(user), recoveryCode: typed }));
    expect(ok(await client.call("ValidateToken", { token: signedIn.accessToken })).amr).toEqual(["pwd", "mfa"]);
    expect(failed(await client.call("VerifyMfa", { mfaTicket: await ticketFor(user), recoveryCode: first }))).toMatchObject({
      reason: "MFA_CODE_INVALID",
    });
    expect(ok(await client.call("GetMfaStatus", {}, bearer(signedIn.accessToken))).recoveryCodesRemaining).toBe(9);
  });

  it("refuses a code replayed within its window, and an older one", async () => {
    const user = await enrolledUser(client);
    const code = codeFor(user.secret, app.clock);
    ok(await client.call("VerifyMfa", { mfaTicket: await ticketFor(user), code }));
    const ticket = await ticketFor(user);
    expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code }))).toMatchObject({ reason: "MFA_CODE_INVALID" });
    expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock, -1) }))).toMatchObject({
      reason: "MFA_CODE_INVALID",
    });
    // The next step's code is new: the same ticket (two wrong codes in) still works.
    app.clock.advance(STEP_MS);
    ok(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }));
  });

  it("accepts the codes at the window's edges (-1 and +1 step) and refuses one step beyond each", async () => {
    const user = await enrolledUser(client);
    const ticket = await ticketFor(user);
    for (const steps of [-2, 2]) {
      expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock, steps) }))).toMatchObject({
        reason: "MFA_CODE_INVALID",
      });
    }
    ok(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock, -1) }));
    ok(await client.call("VerifyMfa", { mfaTicket: await ticketFor(user), code: codeFor(user.secret, app.clock, 1) }));
  });

  it("limits wrong codes: five spend a ticket, and the user's limit then refuses even the right code", async () => {
    const user = await enrolledUser(client);
    const ticket = await ticketFor(user);
    for (let i = 0; i < 5; i++) {
      expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: wrongCode(user.secret, app.clock) }))).toMatchObject({
        reason: "MFA_CODE_INVALID",
      });
    }
    expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }))).toMatchObject({
      reason: "MFA_TICKET_INVALID",
    });
    // The codes drew on the sign-in guessing budget too: five failures at this address lock the
    // account here, the password included (docs/security.md, Abuse limits). An administrator lifts it.
    expect(failed(await client.call("Login", { identifier: user.email, password: user.password }))).toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      reason: "ACCOUNT_LOCKED",
    });
    const me = ok(await client.call("Me", {}, bearer(user.accessToken))).user;
    await app.app.deps.loginThrottle.lift({ account: { kind: "user", userId: me.id } });
    // Attempts so far: the enrolment's code and five wrong ones (a spent ticket spends none). Four
    // more reach the limit of ten in 15 minutes; the eleventh is refused, right code or not.
    const next = await ticketFor(user);
    for (let i = 0; i < 4; i++) failed(await client.call("VerifyMfa", { mfaTicket: next, code: wrongCode(user.secret, app.clock) }));
    expect(failed(await client.call("VerifyMfa", { mfaTicket: next, code: codeFor(user.secret, app.clock) }))).toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      reason: "RATE_LIMITED",
    });
  });

  it("regenerates recovery codes with a code, and disables with the password: Login answers tokens again", async () => {
    const user = await enrolledUser(client);
    const fresh = ok(await client.call("RegenerateRecoveryCodes", { code: codeFor(user.secret, app.clock) }, bearer(user.accessToken)));
    expect(fresh.recoveryCodes).toHaveLength(10);
    expect(fresh.recoveryCodes).not.toContain(user.recoveryCodes[0]);
    expect(failed(await client.call("VerifyMfa", { mfaTicket: await ticketFor(user), recoveryCode: user.recoveryCodes[0] }))).toMatchObject(
      {
        reason: "MFA_CODE_INVALID",
      },
    );
    expect(failed(await client.call("DisableMfa", { password: "not-the-password" }, bearer(user.accessToken)))).toMatchObject({
      reason: "INVALID_CREDENTIALS",
    });
    ok(await client.call("DisableMfa", { password: user.password }, bearer(user.accessToken)));
    expect(ok(await client.call("Login", { identifier: user.email, password: user.password })).accessToken).not.toBe("");
    expect(ok(await client.call("GetMfaStatus", {}, bearer(user.accessToken)))).toMatchObject({
      enabled: false,
      recoveryCodesRemaining: 0,
    });
  });

  it("answers a clear INVALID_ARGUMENT for a code that is not six digits, or both a code and a recovery code", async () => {
    const user = await enrolledUser(client);
    const ticket = await ticketFor(user);
    for (const request of [
      { code: "12345" },
      { code: "12a456" },
      { code: "123\u0000456" },
      {},
      { code: "123456", recoveryCode: "AAAA-BBBB-CCCC-DDDD" },
    ]) {
      expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, ...request }))).toMatchObject({
        code: "INVALID_ARGUMENT",
        reason: "INVALID_REQUEST",
      });
    }
    for (const mfaTicket of ["", "mfa.x.y", `${ticket}x`, "__proto__"]) {
      expect(failed(await client.call("VerifyMfa", { mfaTicket, code: codeFor(user.secret, app.clock) })).code).toMatch(
        /INVALID_ARGUMENT|UNAUTHENTICATED/,
      );
    }
    // None of that spent the ticket.
    ok(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }));
  });
});

describe("MFA, stored and raced", () => {
  let client: TestClient;
  beforeAll(() => {
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(() => client?.close());

  it("keeps the secret sealed and the recovery codes hashed in PostgreSQL, and tickets hashed in Redis", async () => {
    const user = await enrolledUser(client);
    const { id } = ok(await client.call("Me", {}, bearer(user.accessToken))).user;
    const factor = await app.app.db.selectFrom("mfa_factors").selectAll().where("user_id", "=", id).executeTakeFirstOrThrow();
    expect(factor.confirmed_at).not.toBeNull();
    expect(factor.secret_sealed).not.toContain(user.secret);
    expect(Buffer.from(factor.secret_sealed, "base64url").toString("latin1")).not.toContain(user.secret);
    const codes = await app.app.db.selectFrom("mfa_recovery_codes").select("code_hash").where("user_id", "=", id).execute();
    expect(codes).toHaveLength(10);
    const stored = codes.map((c) => c.code_hash).join(" ");
    for (const code of user.recoveryCodes) expect(stored).not.toContain(code.replaceAll("-", ""));

    const login = ok(await client.call("Login", { identifier: user.email, password: user.password }));
    const keys = await app.app.redis.keys(`${app.config.redisKeyPrefix}{${id}}:mfa:*`);
    expect(keys).toHaveLength(1);
    const [, , secret] = (login.mfaTicket as string).split(".");
    expect(keys[0]).not.toContain(secret);
    expect(await app.app.redis.get(keys[0]!)).not.toContain(secret);
  });

  it("lets one of nine concurrent VerifyMfa calls with one ticket through, and one of nine with one recovery code", async () => {
    // Nine: with the enrolment's code, ten attempts, the user's limit (none is refused by it).
    const clients = Array.from({ length: 9 }, () => createGrpcClient(app.grpcAddress));
    try {
      const user = await enrolledUser(client);
      const ticket = ok(await client.call("Login", { identifier: user.email, password: user.password })).mfaTicket;
      const code = codeFor(user.secret, app.clock);
      const results = await Promise.all(clients.map((c) => c.call("VerifyMfa", { mfaTicket: ticket, code })));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(new Set(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason)))).toEqual(new Set(["MFA_TICKET_INVALID"]));

      // Nine tickets, one recovery code: one sign-in.
      const other = await enrolledUser(client);
      const tickets: string[] = [];
      for (const _ of clients)
        tickets.push(ok(await client.call("Login", { identifier: other.email, password: other.password })).mfaTicket);
      const recoveryCode = other.recoveryCodes[0]!;
      const raced = await Promise.all(clients.map((c, i) => c.call("VerifyMfa", { mfaTicket: tickets[i], recoveryCode })));
      expect(raced.filter((r) => r.ok)).toHaveLength(1);
      // The rest: the used code, or refused unchecked by the guessing budget, which lets no more
      // than five proofs of one account be checked at once from one address (docs/security.md, Abuse limits).
      for (const reason of new Set(raced.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason)))) {
        expect(["MFA_CODE_INVALID", "RATE_LIMITED", "ACCOUNT_LOCKED"]).toContain(reason);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it("voids the ticket when the password changes between Login and VerifyMfa", async () => {
    const user = await enrolledUser(client);
    const ticket = ok(await client.call("Login", { identifier: user.email, password: user.password })).mfaTicket;
    ok(await client.call("ChangePassword", { currentPassword: user.password, newPassword: newPassword() }, bearer(user.accessToken)));
    expect(failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }))).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "SESSION_REVOKED",
    });
  });

  it("records enable, failure, recovery-code use and disable in the audit trail, never a code", async () => {
    const user = await enrolledUser(client);
    const { id } = ok(await client.call("Me", {}, bearer(user.accessToken))).user;
    const ticket = ok(await client.call("Login", { identifier: user.email, password: user.password })).mfaTicket;
    failed(await client.call("VerifyMfa", { mfaTicket: ticket, code: wrongCode(user.secret, app.clock) }));
    ok(await client.call("VerifyMfa", { mfaTicket: ticket, recoveryCode: user.recoveryCodes[1] }));
    ok(await client.call("DisableMfa", { code: codeFor(user.secret, app.clock) }, bearer(user.accessToken)));
    const events = await app.app.db
      .selectFrom("audit_events")
      .select(["type", "details"])
      .where("user_id", "=", id)
      .where("type", "like", "mfa_%")
      .orderBy("id")
      .execute();
    expect(events.map((e) => e.type)).toEqual(["mfa_enabled", "mfa_failed", "mfa_recovery_code_used", "mfa_disabled"]);
    expect(events[1]?.details).toMatchObject({ method: "totp", during: "sign_in" });
    expect(events[2]?.details).toMatchObject({ recoveryCodesLeft: 9 });
    const text = JSON.stringify(events);
    for (const code of user.recoveryCodes) expect(text).not.toContain(code);
    expect(text).not.toContain(user.secret);
  });
});

describe("MFA without a key-encryption key", () => {
  it("refuses to enrol with FAILED_PRECONDITION when the signing key is pinned and no KEY_ENCRYPTION_KEY is set", async () => {
    const bare = await startTestApp({ name: "mfa-no-kek" });
    const client = createGrpcClient(bare.grpcAddress);
    try {
      const user = await newUser(client);
      expect(failed(await client.call("BeginMfaEnrollment", {}, bearer(user.accessToken)))).toMatchObject({
        code: "FAILED_PRECONDITION",
        reason: "MFA_UNAVAILABLE",
      });
      expect(await bare.app.db.selectFrom("mfa_factors").select("user_id").execute()).toEqual([]);
    } finally {
      client.close();
      await bare.stop();
    }
  });
});

describe("MFA on the OAuth token endpoint", () => {
  let client: TestClient;
  beforeAll(() => {
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(() => client?.close());

  const token = (form: Record<string, string>) =>
    fetch(`${app.baseUrl}/v1/auth/token`, { method: "POST", body: new URLSearchParams(form) }).then(async (r) => ({
      status: r.status,
      cacheControl: r.headers.get("cache-control"),
      body: (await r.json()) as Record<string, any>,
    }));

  it("answers mfa_required with an mfa_token, then tokens for the mfa-otp grant or the mfa-recovery-code grant", async () => {
    const user = await enrolledUser(client);
    const first = await token({ grant_type: "password", username: user.email, password: user.password });
    expect(first).toMatchObject({ status: 403, cacheControl: "no-store", body: { error: "mfa_required", reason: "MFA_REQUIRED" } });
    expect(first.body.access_token).toBeUndefined();
    const mfaToken = recordSecret(first.body.mfa_token as string);
    expect(first.body.mfa_token_expires_in).toBe(300);

    const otp = "http://auth0.com/oauth/grant-type/mfa-otp";
    expect(await token({ grant_type: otp, mfa_token: mfaToken, otp: wrongCode(user.secret, app.clock) })).toMatchObject({
      status: 400,
      body: { error: "invalid_grant", reason: "MFA_CODE_INVALID" },
    });
    const signedIn = await token({ grant_type: otp, mfa_token: mfaToken, otp: codeFor(user.secret, app.clock) });
    expect(signedIn).toMatchObject({ status: 200, body: { token_type: "bearer" } });
    recordSecret(signedIn.body.access_token);
    recordSecret(signedIn.body.refresh_token);
    expect(ok(await client.call("ValidateToken", { token: signedIn.body.access_token })).amr).toEqual(["pwd", "otp", "mfa"]);

    const again = await token({ grant_type: "password", username: user.email, password: user.password });
    const recovery = await token({
      grant_type: "http://auth0.com/oauth/grant-type/mfa-recovery-code",
      mfa_token: recordSecret(again.body.mfa_token as string),
      recovery_code: user.recoveryCodes[0]!,
    });
    expect(recovery.status).toBe(200);
    recordSecret(recovery.body.access_token);
    recordSecret(recovery.body.refresh_token);
    expect(await token({ grant_type: otp, mfa_token: "mfa.nope.nope", otp: "123456" })).toMatchObject({
      status: 400,
      body: { error: "invalid_grant" },
    });
    expect(await token({ grant_type: otp, mfa_token: mfaToken })).toMatchObject({ status: 400, body: { error: "invalid_request" } });
  });
});

describe("MFA on the seed APIs' routes", () => {
  let client: TestClient;
  beforeAll(() => {
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(() => client?.close());

  const post = (path: string, body: Record<string, unknown>) =>
    fetch(`${app.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }),
    );

  it("Solicitud Transporte: /auth/login answers the second step in its envelope, /auth/mfa/verify completes it", async () => {
    const user = await enrolledUser(client);
    const login = await post("/auth/login", { username: user.email, password: user.password });
    expect(login.status).toBe(403);
    expect(login.body).toMatchObject({
      exito: false,
      mensaje: "Se requiere verificación en dos pasos",
      reason: "MFA_REQUIRED",
      datos: { mfaRequired: true, expiresIn: 300 },
    });
    // Its documented client reads tokens only when `exito` is true: it sees a failed login.
    expect(login.body.datos.accessToken).toBeUndefined();
    const mfaTicket = recordSecret(login.body.datos.mfaTicket as string);

    const wrong = await post("/auth/mfa/verify", { mfaTicket, code: wrongCode(user.secret, app.clock) });
    expect(wrong).toMatchObject({ status: 422, body: { exito: false, mensaje: "Código inválido", reason: "MFA_CODE_INVALID" } });
    const verified = await post("/auth/mfa/verify", { mfaTicket, code: codeFor(user.secret, app.clock) });
    expect(verified).toMatchObject({
      status: 200,
      body: { exito: true, mensaje: "Autenticación exitosa", datos: { tokenType: "Bearer", user: { email: user.email } } },
    });
    recordSecret(verified.body.datos.accessToken);
    recordSecret(verified.body.datos.refreshToken);
    expect(ok(await client.call("ValidateToken", { token: verified.body.datos.accessToken })).amr).toEqual(["pwd", "otp", "mfa"]);

    const used = await post("/auth/mfa/verify", { mfaTicket, code: codeFor(user.secret, app.clock, 1) });
    expect(used).toMatchObject({ status: 401, body: { exito: false, reason: "MFA_TICKET_INVALID" } });
    const second = await post("/auth/login", { username: user.email, password: user.password });
    const recovered = await post("/auth/mfa/verify", {
      mfaTicket: recordSecret(second.body.datos.mfaTicket as string),
      recoveryCode: user.recoveryCodes[2],
    });
    expect(recovered).toMatchObject({ status: 200, body: { exito: true } });
    recordSecret(recovered.body.datos.accessToken);
    recordSecret(recovered.body.datos.refreshToken);
  });

  it("the seed APIs without a second step refuse a user with MFA on with 403 MFA_REQUIRED, never with tokens", async () => {
    const user = await enrolledUser(client);
    const form = (path: string) =>
      fetch(`${app.baseUrl}${path}`, { method: "POST", body: new URLSearchParams({ username: user.email, password: user.password }) }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }),
      );
    for (const path of ["/auth/token", "/api/v1/auth/login", "/api/auth/login"]) {
      const answer = await form(path);
      expect(answer, path).toMatchObject({ status: 403, body: { reason: "MFA_REQUIRED" } });
      expect(JSON.stringify(answer.body)).not.toMatch(/access_token|accessToken|mfa\./);
    }
  });
});

describe("MFA required by a tenant's policy, and reset by an administrator", () => {
  let auth: TestClient;
  let admin: TestClient;
  let platform: Record<string, string>;
  let tenant: string;

  beforeAll(async () => {
    auth = createGrpcClient(app.grpcAddress);
    admin = createAdminGrpcClient(app.grpcAddress);
    const password = newPassword();
    const email = `root.${randomBytes(4).toString("hex")}@example.com`;
    await bootstrapPlatformAdmin(app.app.db, app.config, { email, username: undefined, fullName: undefined, password });
    platform = bearer(ok(await auth.call("Login", { identifier: email, password }, { "x-tenant": "system" })).accessToken);
    tenant = `strict-${randomBytes(3).toString("hex")}`;
    ok(await admin.call("CreateTenant", { id: tenant, displayName: "Strict", policy: { mfaRequired: true } }, platform));
  });
  afterAll(() => {
    auth?.close();
    admin?.close();
  });

  const headers = (extra: Record<string, string> = {}) => ({ "x-tenant": tenant, ...extra });

  it("makes a user without a second factor enrol at sign-in, with a ticket good for enrolling only, and confirming signs them in", async () => {
    const email = `strict.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    ok(await auth.call("Register", { email, password }, headers()));
    const login = ok(await auth.call("Login", { identifier: email, password }, headers()));
    expect(login).toMatchObject({
      mfaRequired: false,
      mfaEnrollmentRequired: true,
      accessToken: "",
      refreshToken: "",
      mfaTicketExpiresIn: 900,
    });
    const ticket = login.mfaTicket as string;

    // Not a bearer token, not a VerifyMfa ticket, and not a way into another tenant.
    expect(failed(await auth.call("Me", {}, headers(bearer(ticket))))).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(failed(await auth.call("VerifyMfa", { mfaTicket: ticket, code: "123456" }, headers()))).toMatchObject({
      reason: "MFA_TICKET_INVALID",
    });
    expect(failed(await auth.call("BeginMfaEnrollment", { mfaTicket: ticket }, { "x-tenant": "default" }))).toMatchObject({
      reason: "TENANT_MISMATCH",
    });

    freshStep(app.clock);
    const begun = ok(await auth.call("BeginMfaEnrollment", { mfaTicket: ticket }, headers()));
    const secret = recordSecret(begun.secret as string);
    expect(readQr(begun.qrCodePng)).toBe(begun.otpauthUri);
    expect(
      failed(await auth.call("ConfirmMfaEnrollment", { mfaTicket: ticket, code: wrongCode(secret, app.clock) }, headers())),
    ).toMatchObject({
      reason: "MFA_CODE_INVALID",
    });
    const confirmed = ok(await auth.call("ConfirmMfaEnrollment", { mfaTicket: ticket, code: codeFor(secret, app.clock) }, headers()));
    expect(confirmed.recoveryCodes).toHaveLength(10);
    expect(confirmed.tokens).toMatchObject({ tokenType: "Bearer", user: { email, tenant } });
    expect(ok(await auth.call("ValidateToken", { token: confirmed.tokens.accessToken })).amr).toEqual(["pwd", "otp", "mfa"]);
    // The ticket was spent; the next sign-in asks for the factor.
    expect(
      failed(await auth.call("ConfirmMfaEnrollment", { mfaTicket: ticket, code: codeFor(secret, app.clock, 1) }, headers())),
    ).toMatchObject({
      reason: "MFA_TICKET_INVALID",
    });
    expect(ok(await auth.call("Login", { identifier: email, password }, headers()))).toMatchObject({
      mfaRequired: true,
      mfaEnrollmentRequired: false,
    });
  });

  it("says so on the OAuth endpoint and on the routes with no second step", async () => {
    const email = `strict.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    ok(await auth.call("Register", { email, password }, headers()));
    const oauth = await fetch(`${app.baseUrl}/v1/auth/token`, {
      method: "POST",
      headers: { "x-tenant": tenant },
      body: new URLSearchParams({ grant_type: "password", username: email, password }),
    });
    const body = (await oauth.json()) as Record<string, string>;
    recordSecret(body.mfa_token ?? "");
    expect(oauth.status).toBe(403);
    expect(body).toMatchObject({
      error: "mfa_enrollment_required",
      reason: "MFA_ENROLLMENT_REQUIRED",
      mfa_token: expect.stringMatching(/^mfa\./),
    });
    const vigia = await fetch(`${app.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "x-tenant": tenant },
      body: new URLSearchParams({ username: email, password }),
    });
    expect(vigia.status).toBe(403);
    expect(await vigia.json()).toMatchObject({ reason: "MFA_ENROLLMENT_REQUIRED" });
  });

  it("lets an administrator reset a user's second factor: audited, an outstanding ticket void, the user enrols again", async () => {
    const user = await enrolledUser(auth);
    const { id } = ok(await auth.call("Me", {}, bearer(user.accessToken))).user;
    const ticket = ok(await auth.call("Login", { identifier: user.email, password: user.password })).mfaTicket;
    expect(ok(await admin.call("ResetUserMfa", { tenant: "default", userId: id }, platform))).toEqual({ factorsRemoved: 1 });
    expect(failed(await auth.call("VerifyMfa", { mfaTicket: ticket, code: codeFor(user.secret, app.clock) }))).toMatchObject({
      reason: "MFA_TICKET_INVALID",
    });
    expect(await app.app.db.selectFrom("mfa_recovery_codes").select("code_hash").where("user_id", "=", id).execute()).toEqual([]);
    const event = await app.app.db
      .selectFrom("audit_events")
      .select(["actor_id", "details"])
      .where("user_id", "=", id)
      .where("type", "=", "user_mfa_reset")
      .executeTakeFirstOrThrow();
    expect(event.actor_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.details).toMatchObject({ factorsRemoved: 1 });
    // The default tenant does not require MFA: the password alone signs in again.
    expect(ok(await auth.call("Login", { identifier: user.email, password: user.password })).accessToken).not.toBe("");
    expect(failed(await admin.call("ResetUserMfa", { tenant: "default", userId: id }, platform))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "MFA_NOT_ENROLLED",
    });
  });
});
