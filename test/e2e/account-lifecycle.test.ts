/**
 * Email verification and password reset end to end: the service mails a real SMTP server, the test
 * reads the mail, takes the link out of it, and completes the flow through the public API, over
 * gRPC and over Connect.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient, transports } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

const uniqueEmail = (tag: string) => `${tag}.${randomBytes(5).toString("hex")}@example.com`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("base64url");

/** The token in the link of the next mail to `to` whose subject matches. */
async function tokenFromMail(smtp: TestSmtp, to: string, subject: RegExp): Promise<{ token: string; link: URL; html: string }> {
  const mail = await smtp.waitFor(to, subject);
  const link = linkIn(mail);
  const token = recordSecret(link.searchParams.get("token") ?? "");
  return { token, link, html: typeof mail.html === "string" ? mail.html : "" };
}

describe.each(transports)("the account lifecycle over $name", ({ connect }) => {
  let smtp: TestSmtp;
  let app: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "lifecycle", env: { SMTP_URL: smtp.url, PUBLIC_URL: "https://auth.example.test" } });
    client = connect(app);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await smtp?.stop();
  });

  async function register(tag = "user") {
    const email = uniqueEmail(tag);
    const password = newPassword();
    const { user } = ok(await client.call("Register", { email, password }));
    return { email, password, user };
  }
  const login = async (email: string, password: string) => ok(await client.call("Login", { identifier: email, password }));

  it("Register mails a verification link, in text and HTML, that VerifyEmail accepts exactly once", async () => {
    const { email, password, user } = await register();
    expect(user.emailVerified).toBe(false);
    const { token, link, html } = await tokenFromMail(smtp, email, /Confirm your email/);
    expect(`${link.origin}${link.pathname}`).toBe("https://auth.example.test/v1/auth/verify-email");
    expect(html).toContain(link.toString());

    const verified = ok(await client.call("VerifyEmail", { token }));
    expect(verified.user).toMatchObject({ id: user.id, emailVerified: true });
    const session = await login(email, password);
    expect(ok(await client.call("Me", {}, bearer(session.accessToken))).user.emailVerified).toBe(true);

    expect(failed(await client.call("VerifyEmail", { token }))).toMatchObject({ code: "FAILED_PRECONDITION", reason: "TOKEN_USED" });
  });

  it("answers TOKEN_INVALID for garbage and for a well-formed token it never issued", async () => {
    expect(failed(await client.call("VerifyEmail", { token: "garbage" }))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "TOKEN_INVALID",
    });
    const unknown = recordSecret(randomBytes(32).toString("base64url"));
    expect(failed(await client.call("VerifyEmail", { token: unknown }))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "TOKEN_INVALID",
    });
    expect(failed(await client.call("VerifyEmail", { token: "" }))).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" });
  });

  it("answers TOKEN_EXPIRED once EMAIL_TOKEN_TTL has passed", async () => {
    const { email } = await register();
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    app.clock.advance(app.config.policy.emailTokenTtlMs + 1000);
    expect(failed(await client.call("VerifyEmail", { token }))).toMatchObject({ code: "FAILED_PRECONDITION", reason: "TOKEN_EXPIRED" });
  });

  it("lets exactly one of 10 concurrent VerifyEmail calls with one token succeed", async () => {
    const { email } = await register();
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    const results = await Promise.all(Array.from({ length: 10 }, () => client.call("VerifyEmail", { token })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const result of results.filter((r) => !r.ok)) expect(result).toMatchObject({ reason: "TOKEN_USED" });
  });

  it("resets a password with the mailed token and ends every session, so old tokens stop working", async () => {
    const { email, password } = await register("reset");
    const sessions = [await login(email, password), await login(email, password)];
    expect(ok(await client.call("RequestPasswordReset", { email: email.toUpperCase() }))).toEqual({});
    const { token, link } = await tokenFromMail(smtp, email, /Reset your password/);
    expect(`${link.origin}${link.pathname}`).toBe("https://auth.example.test/reset-password");

    const fresh = newPassword("fresh");
    const reset = ok(await client.call("ResetPassword", { token, newPassword: fresh }));
    expect(reset).toMatchObject({ email, tenant: "default", sessionsEnded: 2 });
    for (const session of sessions) {
      expect(failed(await client.call("Refresh", { refreshToken: session.refreshToken })).reason).toBe("SESSION_REVOKED");
      expect(ok(await client.call("ValidateToken", { token: session.accessToken }))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_REVOKED",
      });
    }
    expect(failed(await client.call("Login", { identifier: email, password })).reason).toBe("INVALID_CREDENTIALS");
    expect((await login(email, fresh)).user.emailVerified).toBe(true);
    expect(failed(await client.call("ResetPassword", { token, newPassword: newPassword() }))).toMatchObject({ reason: "TOKEN_USED" });
  });

  it("applies the password policy to a reset and keeps the token usable when it refuses", async () => {
    const { email } = await register("policy");
    await client.call("RequestPasswordReset", { email });
    const { token } = await tokenFromMail(smtp, email, /Reset your password/);
    expect(failed(await client.call("ResetPassword", { token, newPassword: "short" }))).toMatchObject({
      code: "INVALID_ARGUMENT",
      reason: "WEAK_PASSWORD",
    });
    expect(ok(await client.call("ResetPassword", { token, newPassword: newPassword() })).email).toBe(email);
  });

  it("answers a reset request for an unknown address the same, mails nothing, and audits it", async () => {
    const { email } = await register("known");
    const unknown = uniqueEmail("unknown");
    const forUnknown = await client.call("RequestPasswordReset", { email: unknown });
    const forKnown = await client.call("RequestPasswordReset", { email });
    expect(forUnknown).toEqual(forKnown);
    await tokenFromMail(smtp, email, /Reset your password/);
    await app.app.drainBackground();
    expect(smtp.messages.some((m) => JSON.stringify(m.to).includes(unknown))).toBe(false);
    const audit = await app.app.db
      .selectFrom("audit_events")
      .selectAll()
      .where("type", "=", "password_reset_requested")
      .where(({ ref }) => ref("details", "->>").key("email"), "=", unknown)
      .executeTakeFirst();
    expect(audit).toMatchObject({ tenant_id: "default", user_id: null });
    expect(audit?.details).toMatchObject({ accountExists: false });
  });

  it("keeps purposes apart: a verification token is no reset token, neither is an access token", async () => {
    const { email } = await register("cross");
    const { token: verification } = await tokenFromMail(smtp, email, /Confirm your email/);
    await client.call("RequestPasswordReset", { email });
    const { token: reset } = await tokenFromMail(smtp, email, /Reset your password/);

    expect(failed(await client.call("ResetPassword", { token: verification, newPassword: newPassword() })).reason).toBe("TOKEN_INVALID");
    expect(failed(await client.call("VerifyEmail", { token: reset })).reason).toBe("TOKEN_INVALID");
    for (const token of [verification, reset]) {
      expect(ok(await client.call("ValidateToken", { token })).active).toBe(false);
      expect(failed(await client.call("Me", {}, bearer(token))).reason).toBe("TOKEN_INVALID");
    }
    // Both still work for what they are.
    expect(ok(await client.call("VerifyEmail", { token: verification })).user.emailVerified).toBe(true);
    expect(ok(await client.call("ResetPassword", { token: reset, newPassword: newPassword() })).email).toBe(email);
  });

  it("stores only hashes of the tokens it mails", async () => {
    const { email, user } = await register("hashed");
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    const rows = await app.app.db.selectFrom("one_time_tokens").selectAll().where("user_id", "=", user.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ purpose: "verify_email", token_hash: sha256(token), used_at: null });
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("resends verification only to unverified accounts, answering the same for every address", async () => {
    const { email } = await register("resend");
    const first = await tokenFromMail(smtp, email, /Confirm your email/);
    const answers = [
      await client.call("ResendVerification", { email }),
      await client.call("ResendVerification", { email: uniqueEmail("nobody") }),
    ];
    expect(answers[0]).toEqual(answers[1]);
    const second = await tokenFromMail(smtp, email, /Confirm your email/);
    expect(second.token).not.toBe(first.token);
    ok(await client.call("VerifyEmail", { token: second.token }));
    // The older link died with the verification.
    expect(failed(await client.call("VerifyEmail", { token: first.token })).reason).toBe("TOKEN_USED");
    const before = smtp.messages.length;
    ok(await client.call("ResendVerification", { email }));
    await app.app.drainBackground();
    expect(smtp.messages.length).toBe(before);
  });

  it("lets an admin of the tenant reset a password by email, and nobody else", async () => {
    const target = await register("target");
    const targetSession = await login(target.email, target.password);
    const plain = await register("plain");
    const plainSession = await login(plain.email, plain.password);
    const admin = await register("admin");
    await app.app.db.insertInto("user_roles").values({ user_id: admin.user.id, tenant_id: "default", role_name: "admin" }).execute();
    const adminSession = await login(admin.email, admin.password);
    expect(adminSession.user.role).toBe("admin");

    const fresh = newPassword("admin-set");
    const request = { email: target.email, newPassword: fresh };
    expect(failed(await client.call("ResetPassword", request))).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" });
    expect(failed(await client.call("ResetPassword", request, bearer(plainSession.accessToken)))).toMatchObject({
      code: "PERMISSION_DENIED",
      reason: "ADMIN_REQUIRED",
    });
    expect(
      failed(await client.call("ResetPassword", { ...request, email: uniqueEmail("ghost") }, bearer(adminSession.accessToken))),
    ).toMatchObject({
      code: "NOT_FOUND",
      reason: "USER_NOT_FOUND",
    });

    expect(ok(await client.call("ResetPassword", request, bearer(adminSession.accessToken)))).toMatchObject({
      email: target.email,
      tenant: "default",
      sessionsEnded: 1,
    });
    expect(ok(await client.call("ValidateToken", { token: targetSession.accessToken })).reason).toBe("INACTIVE_REASON_REVOKED");
    expect((await login(target.email, fresh)).user.id).toBe(target.user.id);
  });

  it("has written an audit row for every kind of security event, with nothing secret in it", async () => {
    const { email, password } = await register("audit");
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    ok(await client.call("VerifyEmail", { token }));
    failed(await client.call("Login", { identifier: email, password: newPassword() }));
    const session = await login(email, password);
    ok(await client.call("Refresh", { refreshToken: session.refreshToken }));
    app.clock.advance(app.config.policy.refreshReuseGraceMs + 1000);
    failed(await client.call("Refresh", { refreshToken: session.refreshToken }));
    const second = await login(email, password);
    const changed = newPassword("changed");
    ok(await client.call("ChangePassword", { currentPassword: password, newPassword: changed }, bearer(second.accessToken)));
    ok(await client.call("Logout", {}, bearer(second.accessToken)));

    const rows = await app.app.db.selectFrom("audit_events").selectAll().execute();
    const types = new Set(rows.map((row) => row.type));
    for (const type of [
      "user_registered",
      "email_verified",
      "login_succeeded",
      "login_failed",
      "refresh_reuse_detected",
      "logout",
      "password_changed",
      "password_reset_requested",
      "password_reset",
      "verification_requested",
    ]) {
      expect(types, type).toContain(type);
    }
    const everything = JSON.stringify(rows);
    for (const secret of [password, changed, token, session.refreshToken, session.accessToken, second.accessToken]) {
      expect(everything).not.toContain(secret);
    }
    expect(rows.find((row) => row.type === "login_succeeded")).toMatchObject({
      ip: expect.stringMatching(/127\.0\.0\.1/),
      tenant_id: "default",
    });
  });
});

describe("with the mail server down during Register", () => {
  let smtp: TestSmtp;
  let app: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    smtp = await createTestSmtp({ listen: false });
    app = await startTestApp({ name: "smtp-down", env: { SMTP_URL: smtp.url } });
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await smtp?.stop();
  });

  it("still creates the user, logs the failure, and a later ResendVerification delivers", async () => {
    const email = uniqueEmail("smtp-down");
    const password = newPassword();
    const registered = await client.call("Register", { email, password });
    expect(registered.ok).toBe(true);
    await app.app.drainBackground();
    const failures = readFileSync(app.logFile, "utf8")
      .split("\n")
      .filter((line) => line.includes("background task failed: verification mail"));
    expect(failures).toHaveLength(1);
    expect(await client.call("Login", { identifier: email, password })).toMatchObject({ ok: true });

    await smtp.start();
    expect(await client.call("ResendVerification", { email })).toMatchObject({ ok: true });
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    expect(await client.call("VerifyEmail", { token })).toMatchObject({ ok: true, response: { user: { emailVerified: true } } });
  });
});

describe("with REQUIRE_VERIFIED_EMAIL=true", () => {
  let smtp: TestSmtp;
  let app: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({
      name: "verified-only",
      env: { SMTP_URL: smtp.url, REQUIRE_VERIFIED_EMAIL: "true", MAIL_PER_ADDRESS_PER_HOUR: "3" },
    });
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await smtp?.stop();
  });

  it("refuses an unverified user only after the password checked out, and lets them in once verified", async () => {
    const email = uniqueEmail("strict");
    const password = newPassword();
    await client.call("Register", { email, password });
    expect(await client.call("Login", { identifier: email, password: newPassword() })).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "INVALID_CREDENTIALS",
    });
    expect(await client.call("Login", { identifier: email, password })).toMatchObject({
      code: "PERMISSION_DENIED",
      reason: "EMAIL_NOT_VERIFIED",
    });
    const { token } = await tokenFromMail(smtp, email, /Confirm your email/);
    await client.call("VerifyEmail", { token });
    expect(await client.call("Login", { identifier: email, password })).toMatchObject({ ok: true });
  });

  it("limits the mails one address may ask for, known or not", async () => {
    for (const email of [uniqueEmail("limited"), uniqueEmail("limited")]) {
      for (let i = 0; i < 3; i++) expect((await client.call("RequestPasswordReset", { email })).ok).toBe(true);
      expect(await client.call("RequestPasswordReset", { email })).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "RATE_LIMITED" });
      expect(await client.call("ResendVerification", { email })).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "RATE_LIMITED" });
    }
  });
});
