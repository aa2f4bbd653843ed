/**
 * The MFA flows at the fastest depth: the domain on in-memory ports (the ticket store and the
 * throttle are the real adapters over the embedded Redis stand-in), codes made by otplib on the
 * hand-moved clock. The end-to-end suite (test/e2e/mfa.test.ts) runs the same over the real
 * stores and every transport.
 */
import { generateSync } from "otplib";
import { describe, expect, it } from "vitest";
import { AuthError, type AuthErrorReason } from "../../src/domain/errors.js";
import { bindFlows } from "../../src/domain/flows.js";
import type { LoginOutcome, RequestContext } from "../../src/domain/model.js";
import { createSecretBox } from "../../src/infra/crypto/secret-box.js";
import { memoryDeps } from "../support/memory-ports.js";

const anonymous: RequestContext = { tenantHeader: undefined, credential: { kind: "none" }, ip: "203.0.113.9", userAgent: "unit" };
const as = (accessToken: string): RequestContext => ({ ...anonymous, credential: { kind: "bearer", token: accessToken } });

async function reasonOf(promise: Promise<unknown>): Promise<AuthErrorReason> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(error)}`);
  return error.reason;
}

function claimsOf(accessToken: string) {
  return JSON.parse(Buffer.from(accessToken.slice(5), "base64url").toString("utf8")) as { amr: string[] };
}

function challenge(outcome: LoginOutcome) {
  if (outcome.kind === "signed_in") throw new Error("expected a second step, got tokens");
  return outcome;
}

/** A user who signed in with a password, and a code maker for the secret they enrol. */
async function world(policy: Parameters<typeof memoryDeps>[0] = {}) {
  const w = memoryDeps(policy);
  const flows = bindFlows(w.deps);
  const email = "ann@example.com";
  const password = "first-password";
  const user = await flows.register(anonymous, { email, password, username: "ann", fullName: undefined });
  await w.settle();
  const tokens = await flows.login(anonymous, { identifier: email, password });
  let secret = "";
  /** The code otplib makes for the enrolled secret, `steps` steps from now. */
  const code = (steps = 0) => generateSync({ secret, epoch: Math.floor(w.clock.now() / 1000) + steps * 30 });
  async function enrol() {
    const begun = await flows.beginMfaEnrollment(as(tokens.accessToken), { mfaTicket: "" });
    secret = begun.secret;
    const { recoveryCodes } = await flows.confirmMfaEnrollment(as(tokens.accessToken), { code: code(), mfaTicket: "" });
    // The step of that code is used now: later codes come from later steps.
    w.clock.advance(30_000);
    return { begun, recoveryCodes };
  }
  const signIn = async () => challenge(await flows.signIn(anonymous, { identifier: email, password }));
  return { ...w, flows, user, email, password, tokens, code, enrol, signIn, setSecret: (s: string) => (secret = s) };
}

describe("enrolment", () => {
  it("turns MFA on only once a code confirms it, and answers ten recovery codes once", async () => {
    const { flows, tokens, code, setSecret, events, user, secondFactors } = await world();
    expect(claimsOf(tokens.accessToken).amr).toEqual(["pwd"]);
    const begun = await flows.beginMfaEnrollment(as(tokens.accessToken), { mfaTicket: "" });
    expect(begun).toMatchObject({ issuer: "Authward Test", account: "ann@example.com", algorithm: "SHA1", digits: 6, periodSeconds: 30 });
    expect(begun.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await flows.mfaStatus(as(tokens.accessToken))).toMatchObject({ enabled: false, enrollmentPending: true });
    // Pending: Login still answers tokens.
    expect((await flows.signIn(anonymous, { identifier: "ann", password: "first-password" })).kind).toBe("signed_in");

    setSecret(begun.secret);
    expect(await reasonOf(flows.confirmMfaEnrollment(as(tokens.accessToken), { code: code(5), mfaTicket: "" }))).toBe("MFA_CODE_INVALID");
    const { recoveryCodes, tokens: none } = await flows.confirmMfaEnrollment(as(tokens.accessToken), { code: code(), mfaTicket: "" });
    expect(recoveryCodes).toHaveLength(10);
    expect(none).toBeUndefined();
    expect(await flows.mfaStatus(as(tokens.accessToken))).toMatchObject({ enabled: true, recoveryCodesLeft: 10, enrollmentPending: false });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["mfa_failed", "mfa_enabled"]));
    // Stored: the secret sealed, never in the clear, and the codes hashed.
    const stored = secondFactors.rows.get(user.id)!;
    expect(stored.factor.sealedSecret).not.toContain(begun.secret);
    for (const c of recoveryCodes) expect([...stored.codes.keys()].join()).not.toContain(c.replaceAll("-", ""));
  });

  it("refuses a second enrolment while one is on, and lets a pending one lapse", async () => {
    const { flows, tokens, enrol } = await world({ mfaEnrollmentTtlMs: 60_000 });
    const other = await world({ mfaEnrollmentTtlMs: 60_000 });
    await enrol();
    expect(await reasonOf(flows.beginMfaEnrollment(as(tokens.accessToken), { mfaTicket: "" }))).toBe("MFA_ALREADY_ENABLED");

    const begun = await other.flows.beginMfaEnrollment(as(other.tokens.accessToken), { mfaTicket: "" });
    other.setSecret(begun.secret);
    other.clock.advance(61_000);
    expect(await reasonOf(other.flows.confirmMfaEnrollment(as(other.tokens.accessToken), { code: other.code(), mfaTicket: "" }))).toBe(
      "MFA_ENROLLMENT_NOT_FOUND",
    );
  });

  it("refuses to enrol without a key-encryption key, and says so", async () => {
    const w = await world();
    const deps = { ...w.deps, secretBox: createSecretBox(undefined) };
    const flows = bindFlows(deps);
    const error = await flows.beginMfaEnrollment(as(w.tokens.accessToken), { mfaTicket: "" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ reason: "MFA_UNAVAILABLE", category: "precondition" });
    expect(w.secondFactors.rows.size).toBe(0);
  });

  it("binds a sealed secret to its user: moved to another user's row, it does not open", async () => {
    const a = await world();
    await a.enrol();
    const sealed = a.secondFactors.rows.get(a.user.id)!.factor.sealedSecret;
    expect(() => a.deps.secretBox.open(sealed, "auth.v1 totp secret\u0000someone-else")).toThrow(/cannot be read/);
  });
});

describe("sign-in with a second factor", () => {
  it("answers a ticket instead of tokens, and VerifyMfa completes it with amr pwd, otp, mfa", async () => {
    const { flows, enrol, signIn, code, events } = await world();
    await enrol();
    const step = await signIn();
    expect(step).toMatchObject({ kind: "mfa_required", expiresIn: 300 });
    const tokens = await flows.verifyMfa(anonymous, { mfaTicket: step.ticket, code: code(), recoveryCode: "" });
    expect(claimsOf(tokens.accessToken).amr).toEqual(["pwd", "otp", "mfa"]);
    expect(events.at(-1)).toMatchObject({ type: "login_succeeded", detail: { secondFactor: "totp" } });
    // Single use.
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: step.ticket, code: code(1), recoveryCode: "" }))).toBe(
      "MFA_TICKET_INVALID",
    );
  });

  it("refuses a code used once already, and any older one, even within the window", async () => {
    const { flows, enrol, signIn, code, clock } = await world();
    await enrol();
    const first = await signIn();
    const used = code();
    await flows.verifyMfa(anonymous, { mfaTicket: first.ticket, code: used, recoveryCode: "" });
    const second = await signIn();
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: second.ticket, code: used, recoveryCode: "" }))).toBe("MFA_CODE_INVALID");
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: second.ticket, code: code(-1), recoveryCode: "" }))).toBe(
      "MFA_CODE_INVALID",
    );
    clock.advance(30_000);
    expect((await flows.verifyMfa(anonymous, { mfaTicket: second.ticket, code: code(), recoveryCode: "" })).accessToken).toBeTruthy();
  });

  it("takes a recovery code once, in any case and with any dashes, and gives amr pwd, mfa", async () => {
    const { flows, enrol, signIn, tokens, events } = await world();
    const { recoveryCodes } = await enrol();
    const spent = recoveryCodes[3]!;
    const typed = spent.toLowerCase().replaceAll("-", " ");
    const signedIn = await flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: "", recoveryCode: typed });
    expect(claimsOf(signedIn.accessToken).amr).toEqual(["pwd", "mfa"]);
    expect(events.find((e) => e.type === "mfa_recovery_code_used")).toMatchObject({ detail: { recoveryCodesLeft: 9 } });
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: "", recoveryCode: spent }))).toBe(
      "MFA_CODE_INVALID",
    );
    expect((await flows.mfaStatus(as(tokens.accessToken))).recoveryCodesLeft).toBe(9);
  });

  it("spends a ticket after five wrong codes", async () => {
    const { flows, enrol, signIn, code } = await world();
    await enrol();
    const { ticket } = await signIn();
    const wrong = String((Number(code()) + 1) % 1_000_000).padStart(6, "0");
    for (let i = 0; i < 4; i++)
      expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: ticket, code: wrong, recoveryCode: "" }))).toBe("MFA_CODE_INVALID");
    const fifth = await flows.verifyMfa(anonymous, { mfaTicket: ticket, code: wrong, recoveryCode: "" }).catch((e: AuthError) => e);
    expect(fifth).toMatchObject({ reason: "MFA_CODE_INVALID", message: expect.stringMatching(/sign in again/) });
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: ticket, code: code(), recoveryCode: "" }))).toBe("MFA_TICKET_INVALID");
  });

  it("limits attempts per user across tickets", async () => {
    const { flows, enrol, signIn } = await world();
    await enrol();
    const reasons: AuthErrorReason[] = [];
    for (let i = 0; i < 12; i++)
      reasons.push(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: "000000", recoveryCode: "" })));
    // Ten attempts in the window: the enrolment's code was the first.
    expect(reasons).toEqual([...Array(9).fill("MFA_CODE_INVALID"), "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]);
  });

  it("spends none of a user's attempts on forged tickets naming them: no lockout by someone without the password", async () => {
    const { flows, enrol, signIn, code, user } = await world();
    await enrol();
    const forged = (n: number) =>
      `mfa.${Buffer.from(user.id.replaceAll("-", ""), "hex").toString("base64url")}.${"A".repeat(42)}${"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n % 26]}`;
    for (let i = 0; i < 30; i++)
      expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: forged(i), code: "000000", recoveryCode: "" }))).toBe(
        "MFA_TICKET_INVALID",
      );
    expect(
      (await flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: code(), recoveryCode: "" })).accessToken,
    ).toBeTruthy();
  });

  it("lets one of two concurrent VerifyMfa calls with one ticket through", async () => {
    const { flows, enrol, signIn, code } = await world();
    const { recoveryCodes } = await enrol();
    const { ticket } = await signIn();
    const results = await Promise.allSettled([
      flows.verifyMfa(anonymous, { mfaTicket: ticket, code: code(), recoveryCode: "" }),
      flows.verifyMfa(anonymous, { mfaTicket: ticket, code: "", recoveryCode: recoveryCodes[0]! }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.reason)).toEqual([
      "MFA_TICKET_INVALID",
    ]);
  });

  it("refuses the second step to routes that cannot take it, without a ticket", async () => {
    const { flows, enrol, email, password, redis } = await world();
    await enrol();
    // The stand-in Redis is shared by every world of this file: count this call's keys only.
    const before = await redis.keys("*");
    expect(await reasonOf(flows.login(anonymous, { identifier: email, password }))).toBe("MFA_REQUIRED");
    expect(await redis.keys("*")).toEqual(before);
  });

  it("answers a wrong password before anything about MFA", async () => {
    const { flows, enrol, email } = await world();
    await enrol();
    expect(await reasonOf(flows.signIn(anonymous, { identifier: email, password: "wrong-password" }))).toBe("INVALID_CREDENTIALS");
  });

  it("voids the ticket when a password change finished between Login and VerifyMfa", async () => {
    const { flows, enrol, signIn, code, tokens, password } = await world();
    await enrol();
    const { ticket } = await signIn();
    await flows.changePassword(as(tokens.accessToken), { currentPassword: password, newPassword: "second-password" });
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: ticket, code: code(), recoveryCode: "" }))).toBe("SESSION_REVOKED");
  });

  it("keeps the session's amr through every refresh", async () => {
    const { flows, enrol, signIn, code, clock } = await world();
    await enrol();
    const signedIn = await flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: code(), recoveryCode: "" });
    clock.advance(60_000);
    const refreshed = await flows.refresh(anonymous, { refreshToken: signedIn.refreshToken });
    expect(claimsOf(refreshed.accessToken).amr).toEqual(["pwd", "otp", "mfa"]);
    const kept = await flows.refresh(anonymous, { refreshToken: refreshed.refreshToken }, "keep");
    expect(claimsOf(kept.accessToken).amr).toEqual(["pwd", "otp", "mfa"]);
    const reissued = await flows.reissueAccessToken(as(kept.accessToken));
    expect(claimsOf(reissued.accessToken).amr).toEqual(["pwd", "otp", "mfa"]);
  });

  it("voids the ticket when MFA was turned off since Login", async () => {
    const { flows, enrol, signIn, code, tokens, password } = await world();
    await enrol();
    const { ticket } = await signIn();
    await flows.disableMfa(as(tokens.accessToken), { password });
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: ticket, code: code(), recoveryCode: "" }))).toBe("MFA_TICKET_INVALID");
  });
});

describe("managing the factor", () => {
  it("regenerates recovery codes with a code or the password, and the old ones stop working", async () => {
    const { flows, enrol, signIn, tokens, code, password } = await world();
    const { recoveryCodes: old } = await enrol();
    const fresh = await flows.regenerateRecoveryCodes(as(tokens.accessToken), { code: code() });
    expect(fresh).toHaveLength(10);
    expect(await reasonOf(flows.verifyMfa(anonymous, { mfaTicket: (await signIn()).ticket, code: "", recoveryCode: old[0]! }))).toBe(
      "MFA_CODE_INVALID",
    );
    expect(await reasonOf(flows.regenerateRecoveryCodes(as(tokens.accessToken), { password: "not-the-password" }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(await flows.regenerateRecoveryCodes(as(tokens.accessToken), { password })).toHaveLength(10);
    expect(await reasonOf(flows.regenerateRecoveryCodes(as(tokens.accessToken), { code: code(), password }))).toBe("INVALID_REQUEST");
  });

  it("disables with a code: the factor is gone and Login answers tokens again", async () => {
    const { flows, enrol, tokens, code, email, password, events } = await world();
    await enrol();
    expect(await reasonOf(flows.disableMfa(as(tokens.accessToken), { code: "123 45" }))).toBe("INVALID_REQUEST");
    await flows.disableMfa(as(tokens.accessToken), { code: code() });
    expect(events.at(-1)).toMatchObject({ type: "mfa_disabled", detail: { proof: "totp" } });
    expect((await flows.signIn(anonymous, { identifier: email, password })).kind).toBe("signed_in");
    expect(await reasonOf(flows.disableMfa(as(tokens.accessToken), { password }))).toBe("MFA_NOT_ENROLLED");
  });
});
