/**
 * Flows for transport tests that need no store: each named flow does what the test says, every
 * other one fails as an unimplemented call would. Handlers, envelopes and servers are the real ones.
 */
import { AuthError } from "../../src/domain/errors.js";
import type { Flows } from "../../src/domain/flows.js";
import type { User } from "../../src/domain/model.js";

const names: readonly (keyof Flows)[] = [
  "register",
  "verifyEmail",
  "resendVerification",
  "login",
  "signIn",
  "refresh",
  "reissueAccessToken",
  "logout",
  "me",
  "changePassword",
  "requestPasswordReset",
  "resetPassword",
  "listSessions",
  "revokeSession",
  "validateToken",
  "verifyMfa",
  "beginMfaEnrollment",
  "confirmMfaEnrollment",
  "regenerateRecoveryCodes",
  "disableMfa",
  "mfaStatus",
];

export function fakeFlows(overrides: Partial<Flows>): Flows {
  const unimplemented = async () => {
    throw new AuthError("INTERNAL", { cause: new Error("not part of this test") });
  };
  return { ...Object.fromEntries(names.map((name) => [name, unimplemented])), ...overrides } as Flows;
}

export function fakeUser(overrides: Partial<User> = {}): User {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    number: 1,
    tenant: "default",
    email: "ann@example.com",
    username: "ann",
    fullName: null,
    roles: ["user"],
    permissions: {},
    attributes: {},
    isActive: true,
    emailVerifiedAt: null,
    createdAt: new Date(0),
    sessionEpoch: 0,
    ...overrides,
  };
}
