/** A session as the flows would start one, for the store-level tests (fields the tests do not care about at their defaults). */
import { randomUUID } from "node:crypto";
import type { NewSession } from "../../src/domain/ports.js";
import { hashSecret, newSecret, newSessionId } from "../../src/domain/refresh-token.js";

const DAY = 86_400_000;

export function sessionFields(overrides: Partial<NewSession> = {}): NewSession {
  const createdAt = overrides.createdAt ?? Date.now();
  return {
    id: newSessionId(),
    userId: randomUUID(),
    tenant: "default",
    secretHash: hashSecret(newSecret()),
    ip: undefined,
    userAgent: undefined,
    createdAt,
    absoluteExpiresAt: createdAt + 30 * DAY,
    idleTtlMs: 7 * DAY,
    epoch: 0,
    amr: ["pwd"],
    ...overrides,
  };
}
