/**
 * The flows' promises at the fastest depth: the domain bound to in-memory ports
 * (test/support/memory-ports.ts), a clock moved by hand, no server. Refresh reuse and its grace
 * window, password reset, password change and email verification; the end-to-end suites check the
 * same flows through the real stores and transports.
 */
import { describe, expect, it } from "vitest";
import { AuthError, type AuthErrorReason } from "../../src/domain/errors.js";
import { bindFlows } from "../../src/domain/flows.js";
import type { RequestContext } from "../../src/domain/model.js";
import { newSecret, sealSuccessor } from "../../src/domain/refresh-token.js";
import { disableUser } from "../../src/domain/user-status.js";
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

/** A world with one registered user, signed in once. */
async function signedIn(policy: Parameters<typeof memoryDeps>[0] = {}) {
  const world = memoryDeps(policy);
  const flows = bindFlows(world.deps);
  const email = "ann@example.com";
  const password = "first-password";
  const user = await flows.register(anonymous, { email, password, username: "ann", fullName: undefined });
  await world.settle();
  const tokens = await flows.login(anonymous, { identifier: email, password });
  return { ...world, flows, user, email, password, tokens };
}

/** The token in the link of the last mail of `kind`. */
function mailedToken(mail: readonly { kind: string; link: URL }[], kind: "verification" | "reset"): string {
  const last = mail.filter((m) => m.kind === kind).at(-1);
  return last?.link.searchParams.get("token") ?? "";
}

describe("refresh", () => {
  it("rotates the refresh token, and a retry inside the grace window gets the same successor", async () => {
    const { flows, tokens, clock } = await signedIn();
    clock.advance(1000);
    const first = await flows.refresh(anonymous, { refreshToken: tokens.refreshToken });
    expect(first.refreshToken).not.toBe(tokens.refreshToken);
    clock.advance(5000);
    const retry = await flows.refresh(anonymous, { refreshToken: tokens.refreshToken });
    expect(retry.refreshToken).toBe(first.refreshToken);
    expect((await flows.refresh(anonymous, { refreshToken: first.refreshToken })).refreshToken).not.toBe(first.refreshToken);
  });

  it("answers TOKEN_INVALID, never another token, when the kept successor does not open to the session's current digest", async () => {
    const { flows, deps, tokens, clock } = await signedIn();
    await flows.refresh(anonymous, { refreshToken: tokens.refreshToken });
    clock.advance(1000);
    const presented = tokens.refreshToken.split(".")[2] ?? "";
    // A successor sealed under the same secret, but not the one the session now expects.
    const rotate = deps.sessions.rotate.bind(deps.sessions);
    deps.sessions.rotate = async (request) => {
      const outcome = await rotate(request);
      return outcome.kind === "grace" ? { ...outcome, sealedNext: sealSuccessor(newSecret(), presented) } : outcome;
    };
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: tokens.refreshToken }))).toBe("TOKEN_INVALID");
  });

  it("revokes the whole session when a rotated token is replayed after the grace window", async () => {
    const { flows, deps, tokens, clock, events, user } = await signedIn();
    const next = await flows.refresh(anonymous, { refreshToken: tokens.refreshToken });
    clock.advance(10_001);
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: tokens.refreshToken }))).toBe("TOKEN_REUSED");
    expect(events.filter((e) => e.type === "refresh_reuse_detected")).toEqual([expect.objectContaining({ userId: user.id })]);
    const sessionId = tokens.refreshToken.split(".")[1] ?? "";
    expect(await deps.sessions.isActive(user.id, sessionId)).toBe(false);
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: next.refreshToken }))).toBe("SESSION_REVOKED");
  });

  it("keeps the token current in keep mode", async () => {
    const { flows, tokens } = await signedIn();
    const kept = await flows.refresh(anonymous, { refreshToken: tokens.refreshToken }, "keep");
    expect(kept.refreshToken).toBe(tokens.refreshToken);
    expect((await flows.refresh(anonymous, { refreshToken: tokens.refreshToken }, "keep")).refreshToken).toBe(tokens.refreshToken);
  });

  it("calls a wrong secret for a live session invalid, and leaves the session alone", async () => {
    const { flows, deps, tokens, user } = await signedIn();
    const [userPart, sessionId] = tokens.refreshToken.split(".");
    const forged = `${userPart}.${sessionId}.${"A".repeat(43)}`;
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: forged }))).toBe("TOKEN_INVALID");
    expect(await deps.sessions.isActive(user.id, sessionId ?? "")).toBe(true);
  });

  it("ends the session of a user who was disabled", async () => {
    const { flows, deps, tokens, users, user } = await signedIn();
    users.update(user.id, { isActive: false });
    // The change's Redis step: the copy of the user kept for Refresh goes.
    await deps.sessions.userChanged(user.id);
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: tokens.refreshToken }))).toBe("ACCOUNT_DISABLED");
    expect(await deps.sessions.isActive(user.id, tokens.refreshToken.split(".")[1] ?? "")).toBe(false);
  });
});

describe("sessions per user", () => {
  it("ends the oldest session when a sign-in would pass SESSIONS_PER_USER_MAX", async () => {
    const { flows, email, password, tokens, clock, settle } = await signedIn({ sessionsPerUserMax: 2 });
    clock.advance(1000);
    const second = await flows.login(anonymous, { identifier: email, password });
    await settle();
    clock.advance(1000);
    const third = await flows.login(anonymous, { identifier: email, password });
    // After the answer (the background work of the sign-in).
    await settle();
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: tokens.refreshToken }))).toBe("SESSION_REVOKED");
    for (const kept of [second, third])
      expect((await flows.refresh(anonymous, { refreshToken: kept.refreshToken })).accessToken).toBeTruthy();
  });
});

describe("password reset", () => {
  it("mails a link for a known address, and nothing (with the same answer) for an unknown one", async () => {
    const { flows, mail, settle, email } = await signedIn();
    await flows.requestPasswordReset(anonymous, { email: "nobody@example.com" });
    await flows.requestPasswordReset(anonymous, { email: email.toUpperCase() });
    await settle();
    expect(mail.filter((m) => m.kind === "reset").map((m) => m.to)).toEqual([email]);
  });

  it("sets the new password once per token, ends every session, and marks the address verified", async () => {
    const { flows, mail, settle, email, password, tokens, users, user } = await signedIn();
    await flows.requestPasswordReset(anonymous, { email });
    await settle();
    const token = mailedToken(mail, "reset");
    const { sessionsEnded } = await flows.resetPassword(anonymous, { token, email: "", newPassword: "second-password" });
    expect(sessionsEnded).toBe(1);
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: tokens.refreshToken }))).toBe("SESSION_REVOKED");
    expect(await reasonOf(flows.login(anonymous, { identifier: email, password }))).toBe("INVALID_CREDENTIALS");
    await flows.login(anonymous, { identifier: email, password: "second-password" });
    expect((await users.findById(user.id))?.emailVerifiedAt).not.toBeNull();
    expect(await reasonOf(flows.resetPassword(anonymous, { token, email: "", newPassword: "third-password" }))).toBe("TOKEN_USED");
  });

  it("refuses an expired token, and one made for another purpose", async () => {
    const { flows, mail, settle, email, clock } = await signedIn();
    await flows.requestPasswordReset(anonymous, { email });
    await settle();
    const verification = mailedToken(mail, "verification");
    expect(await reasonOf(flows.resetPassword(anonymous, { token: verification, email: "", newPassword: "second-password" }))).toBe(
      "TOKEN_INVALID",
    );
    clock.advance(15 * 60_000);
    const reset = mailedToken(mail, "reset");
    expect(await reasonOf(flows.resetPassword(anonymous, { token: reset, email: "", newPassword: "second-password" }))).toBe(
      "TOKEN_EXPIRED",
    );
  });
});

describe("change password", () => {
  it("refuses a wrong current password and keeps the old one", async () => {
    const { flows, tokens, email, password } = await signedIn();
    const input = { currentPassword: "not-my-password", newPassword: "second-password" };
    expect(await reasonOf(flows.changePassword(as(tokens.accessToken), input))).toBe("INVALID_CREDENTIALS");
    await flows.login(anonymous, { identifier: email, password });
  });

  it("refuses a weak new password before checking anything else", async () => {
    const { flows, tokens, password } = await signedIn();
    expect(await reasonOf(flows.changePassword(as(tokens.accessToken), { currentPassword: password, newPassword: "password123" }))).toBe(
      "WEAK_PASSWORD",
    );
  });

  it("ends every other session, keeps the caller's, and voids reset links mailed before", async () => {
    const { flows, tokens, email, password, mail, settle } = await signedIn();
    const other = await flows.login(anonymous, { identifier: email, password });
    await flows.requestPasswordReset(anonymous, { email });
    await settle();
    expect(await flows.changePassword(as(tokens.accessToken), { currentPassword: password, newPassword: "second-password" })).toBe(1);
    expect(await reasonOf(flows.refresh(anonymous, { refreshToken: other.refreshToken }))).toBe("SESSION_REVOKED");
    await flows.refresh(anonymous, { refreshToken: tokens.refreshToken });
    const stale = mailedToken(mail, "reset");
    expect(await reasonOf(flows.resetPassword(anonymous, { token: stale, email: "", newPassword: "third-password" }))).toBe("TOKEN_USED");
  });

  it("needs a bearer token, and says which problem it has", async () => {
    const { flows } = await signedIn();
    const input = { currentPassword: "x", newPassword: "second-password" };
    expect(await reasonOf(flows.changePassword(anonymous, input))).toBe("TOKEN_MISSING");
    expect(await reasonOf(flows.changePassword({ ...anonymous, credential: { kind: "malformed" } }, input))).toBe("TOKEN_INVALID");
  });
});

describe("email verification", () => {
  it("verifies the address with the mailed token, once", async () => {
    const { flows, mail, user } = await signedIn();
    expect(user.emailVerifiedAt).toBeNull();
    const token = mailedToken(mail, "verification");
    expect((await flows.verifyEmail(anonymous, { token })).emailVerifiedAt).not.toBeNull();
    expect(await reasonOf(flows.verifyEmail(anonymous, { token }))).toBe("TOKEN_USED");
  });

  it("refuses an expired token and a token of another shape", async () => {
    const { flows, mail, clock } = await signedIn();
    clock.advance(86_400_000);
    expect(await reasonOf(flows.verifyEmail(anonymous, { token: mailedToken(mail, "verification") }))).toBe("TOKEN_EXPIRED");
    expect(await reasonOf(flows.verifyEmail(anonymous, { token: "short" }))).toBe("TOKEN_INVALID");
  });

  it("keeps an unverified user out when the policy asks for a verified address, until she verifies it", async () => {
    const { deps, mail, settle } = memoryDeps({ requireVerifiedEmail: true });
    const flows = bindFlows(deps);
    const credentials = { identifier: "bea@example.com", password: "first-password" };
    await flows.register(anonymous, {
      email: credentials.identifier,
      password: credentials.password,
      username: undefined,
      fullName: undefined,
    });
    await settle();
    expect(await reasonOf(flows.login(anonymous, credentials))).toBe("EMAIL_NOT_VERIFIED");
    await flows.verifyEmail(anonymous, { token: mailedToken(mail, "verification") });
    expect((await flows.login(anonymous, credentials)).user.email).toBe(credentials.identifier);
  });
});

describe("the session epoch", () => {
  /** Runs `change` while the next login is between reading the user and starting its session (in its bcrypt). */
  function duringNextPasswordCheck(deps: ReturnType<typeof memoryDeps>["deps"], change: () => Promise<unknown>): void {
    const passwords = deps.passwords as { verify: typeof deps.passwords.verify };
    const verify = passwords.verify;
    passwords.verify = async (password, stored) => {
      passwords.verify = verify;
      const ok = await verify(password, stored);
      await change();
      return ok;
    };
  }

  it.each([
    ["a sign-out everywhere", "SESSION_REVOKED"],
    ["a password change", "SESSION_REVOKED"],
    ["disabling the user", "ACCOUNT_DISABLED"],
  ] as const)("gives a login that read the user before %s no session (%s)", async (change, reason) => {
    const { flows, deps, tokens, email, password, user, events } = await signedIn();
    duringNextPasswordCheck(deps, () => {
      if (change === "a sign-out everywhere") return flows.logout(as(tokens.accessToken), { allSessions: true });
      if (change === "a password change")
        return flows.changePassword(as(tokens.accessToken), { currentPassword: password, newPassword: "second-password" });
      return disableUser(deps, { userId: user.id, actor: { kind: "system" } });
    });
    expect(await reasonOf(flows.login(anonymous, { identifier: email, password }))).toBe(reason);
    const kept = change === "a password change" ? [tokens.refreshToken.split(".")[1]] : [];
    expect((await deps.sessions.list(user.id, deps.clock.now())).map((s) => s.id)).toEqual(kept);
    expect(events.filter((e) => e.type === "login_failed").map((e) => e.detail?.cause)).toEqual([
      reason === "ACCOUNT_DISABLED" ? "disabled" : "superseded",
    ]);
  });

  it("lets a login that read the user after the change through", async () => {
    const { flows, tokens, email, password } = await signedIn();
    await flows.logout(as(tokens.accessToken), { allSessions: true });
    expect((await flows.login(anonymous, { identifier: email, password })).refreshToken.split(".")).toHaveLength(3);
  });
});
