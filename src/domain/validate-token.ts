/** ValidateToken: the full check other services rely on; an unusable token is an answer, not an error. */
import type { RequestContext, TokenCheck } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { tenantHeaderAllows } from "./validation.js";

export async function validateToken(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly token: string; readonly audience: string | undefined },
): Promise<TokenCheck> {
  const token = input.token.trim();
  if (token === "") return { active: false, reason: "malformed" };
  // Bound the work an oversized token can cause before parsing or verifying anything.
  if (Buffer.byteLength(token, "utf8") > deps.policy.maxTokenBytes) return { active: false, reason: "too_large" };
  const check = await deps.tokens.verify(token, { audience: input.audience, now: deps.clock.now() });
  if (!check.active) return check;
  if (!tenantHeaderAllows(ctx.tenantHeader, check.claims.tenant)) return { active: false, reason: "wrong_tenant" };
  // The signature proves who issued the token; only the session store knows whether it was
  // revoked. One round trip when it was not; the reason is looked up only when it was.
  const { userId, sessionId } = check.claims;
  if (await deps.sessions.isActive(userId, sessionId)) return check;
  return { active: false, reason: (await deps.sessions.isUserDisabled(userId)) ? "user_disabled" : "revoked" };
}
