/**
 * One-time email tokens (verification, password reset): 256 random bits in base64url, mailed in a
 * link; only a SHA-256 is stored, with its purpose and expiry, so a verification token can never
 * pass for a reset token, nor the reverse. Failures are FAILED_PRECONDITION with TOKEN_INVALID,
 * TOKEN_EXPIRED or TOKEN_USED.
 */
import { AuthError, type AuthErrorReason } from "./errors.js";
import type { AuthDeps, ConsumedToken, OneTimePurpose, TokenEffect } from "./ports.js";
import { hashSecret, newSecret } from "./refresh-token.js";
import { required } from "./validation.js";

const tokenShape = /^[A-Za-z0-9_-]{43}$/;

export function oneTimeTokenError(reason: AuthErrorReason): AuthError {
  return new AuthError(reason, { category: "precondition" });
}

/** Creates and stores a token for the user; returns the raw token (to mail) and its expiry. */
export async function issueOneTimeToken(
  deps: AuthDeps,
  user: { readonly id: string; readonly tenant: string },
  purpose: OneTimePurpose,
  ttlMs: number,
): Promise<{ token: string; expiresAt: Date }> {
  const token = newSecret();
  const now = deps.clock.now();
  const expiresAt = new Date(now + ttlMs);
  await deps.oneTimeTokens.issue({
    userId: user.id,
    tenant: user.tenant,
    purpose,
    tokenHash: hashSecret(token),
    createdAt: new Date(now),
    expiresAt,
  });
  return { token, expiresAt };
}

/**
 * The link for `token`: `base` with `{token}` replaced by it (a path such as UContact's
 * `/api/auth/confirmed_email/{token}`), or with `?token=` (or `&token=`) added.
 */
export function linkWithToken(base: string, token: string): URL {
  // Our tokens are base64url, but the link must not depend on it.
  if (base.includes("{token}")) return new URL(base.replace("{token}", encodeURIComponent(token)));
  const url = new URL(base);
  url.searchParams.set("token", token);
  return url;
}

/** The hash of a presented token, or TOKEN_INVALID for anything not shaped like ours. */
export function presentedTokenHash(field: string, token: string): string {
  const trimmed = required(field, token.trim());
  if (!tokenShape.test(trimmed)) throw oneTimeTokenError("TOKEN_INVALID");
  return hashSecret(trimmed);
}

/** Why a token cannot be used now: the precise error for a token `consume` or a check refused. */
export async function whyUnusable(deps: AuthDeps, purpose: OneTimePurpose, tokenHash: string, now: Date): Promise<AuthError> {
  const record = await deps.oneTimeTokens.find(purpose, tokenHash);
  if (record === null) return oneTimeTokenError("TOKEN_INVALID");
  if (record.usedAt !== null) return oneTimeTokenError("TOKEN_USED");
  if (record.expiresAt.getTime() <= now.getTime()) return oneTimeTokenError("TOKEN_EXPIRED");
  // Usable a moment ago and not now: a concurrent caller consumed it.
  return oneTimeTokenError("TOKEN_USED");
}

/** Consumes a token and applies its effect atomically; returns its user or throws why not. */
export async function consumeOneTimeToken(
  deps: AuthDeps,
  purpose: OneTimePurpose,
  tokenHash: string,
  effect: TokenEffect,
): Promise<ConsumedToken> {
  const now = new Date(deps.clock.now());
  const consumed = await deps.oneTimeTokens.consume(purpose, tokenHash, now, effect);
  if (consumed !== null) {
    // The effect changed the user (a verified address, a new password): no copy of before is kept.
    await deps.sessions.userChanged(consumed.userId);
    return consumed;
  }
  throw await whyUnusable(deps, purpose, tokenHash, now);
}
