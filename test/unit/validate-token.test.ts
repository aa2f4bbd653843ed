/**
 * ValidateToken's use of the session store, with a fake store that counts calls: one call (one
 * Redis round trip) for a live session, and the disabled-user lookup only on the inactive path.
 */
import { describe, expect, it } from "vitest";
import type { AccessClaims, RequestContext, TokenCheck } from "../../src/domain/model.js";
import type { AuthDeps } from "../../src/domain/ports.js";
import { validateToken } from "../../src/domain/validate-token.js";

const claims: AccessClaims = {
  userId: "00000000-0000-4000-8000-000000000001",
  tenant: "default",
  sessionId: "s1",
  roles: [],
  email: "a@example.com",
  emailVerified: true,
  username: null,
  amr: ["pwd"],
  issuedAt: 1,
  expiresAt: 2,
};

function fake(state: { live: boolean; disabled: boolean }) {
  const calls: string[] = [];
  const deps = {
    tokens: { verify: async (): Promise<TokenCheck> => ({ active: true, claims }) },
    sessions: {
      isActive: async (userId: string, sessionId: string) => {
        calls.push(`isActive ${userId} ${sessionId}`);
        return state.live;
      },
      isUserDisabled: async (userId: string) => {
        calls.push(`isUserDisabled ${userId}`);
        return state.disabled;
      },
    },
    clock: { now: () => 0 },
    policy: { maxTokenBytes: 8192 },
  } as unknown as AuthDeps;
  return { deps, calls };
}

const ctx: RequestContext = { tenantHeader: undefined, credential: { kind: "none" }, ip: undefined, userAgent: undefined };

describe("ValidateToken and the session store", () => {
  it("asks the store one question for a live session", async () => {
    const { deps, calls } = fake({ live: true, disabled: false });
    expect(await validateToken(deps, ctx, { token: "t", audience: undefined })).toEqual({ active: true, claims });
    expect(calls).toEqual([`isActive ${claims.userId} s1`]);
  });

  it.each([
    [false, "revoked"],
    [true, "user_disabled"],
  ] as const)("looks up why only when the session is gone (disabled: %s → %s)", async (disabled, reason) => {
    const { deps, calls } = fake({ live: false, disabled });
    expect(await validateToken(deps, ctx, { token: "t", audience: undefined })).toEqual({ active: false, reason });
    expect(calls).toEqual([`isActive ${claims.userId} s1`, `isUserDisabled ${claims.userId}`]);
  });
});

describe("ValidateToken and a legacy token", () => {
  const legacy: AccessClaims = { ...claims, tenant: "acme-pharma", profile: "vigia" };
  function fakeLegacy(session: { tenant: string | null; userDisabled: boolean }) {
    const asked: unknown[] = [];
    const deps = {
      tokens: {
        verify: async (_token: string, options: unknown): Promise<TokenCheck> => {
          asked.push(options);
          return { active: true, claims: legacy };
        },
      },
      sessions: { lookup: async () => session },
      clock: { now: () => 0 },
      policy: { maxTokenBytes: 8192 },
    } as unknown as AuthDeps;
    return { deps, asked };
  }

  it("asks for every configured profile, and answers it active while its session is alive and of its tenant", async () => {
    const { deps, asked } = fakeLegacy({ tenant: "acme-pharma", userDisabled: false });
    expect(await validateToken(deps, ctx, { token: "t", audience: undefined })).toEqual({ active: true, claims: legacy });
    expect(asked).toEqual([{ audience: undefined, now: 0, accept: "any" }]);
  });

  it.each([
    [{ tenant: "other-tenant", userDisabled: false }, "malformed"],
    [{ tenant: null, userDisabled: false }, "revoked"],
    [{ tenant: null, userDisabled: true }, "user_disabled"],
  ] as const)(
    "answers a session of another tenant (one a holder of the shared secret signed), or none, inactive: %o → %s",
    async (session, reason) => {
      const { deps } = fakeLegacy(session);
      expect(await validateToken(deps, ctx, { token: "t", audience: undefined })).toEqual({ active: false, reason });
    },
  );
});
