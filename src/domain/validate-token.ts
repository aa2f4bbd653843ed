/** ValidateToken: the full check other services rely on; an unusable token is an answer, not an error. */
import { sessionOf } from "./authenticate.js";
import { holdsPermission, parsePermissionPath } from "./documents.js";
import { invalidField } from "./errors.js";
import type { RequestContext, TokenCheck } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { tenantHeaderAllows } from "./validation.js";

/** Most names and paths one ValidateToken may ask about. */
const MAX_REQUIRED = 32;
const NONE: readonly string[] = Object.freeze([]);
const NONE_PATHS: readonly string[][] = Object.freeze([]);

export interface ValidateTokenInput {
  readonly token: string;
  readonly audience: string | undefined;
  /** Roles the user must hold now. */
  readonly requiredRoles?: readonly string[];
  /** Permission paths (`reports.view`) that must be `true` in the user's merged permissions now. */
  readonly requiredPermissions?: readonly string[];
}

export async function validateToken(deps: AuthDeps, ctx: RequestContext, input: ValidateTokenInput): Promise<TokenCheck> {
  const requiredRoles = input.requiredRoles ?? NONE;
  const requiredPermissions = input.requiredPermissions ?? NONE;
  // The usual call asks nothing more of the token: it pays for nothing more than this test.
  const asksForGrants = requiredRoles.length > 0 || requiredPermissions.length > 0;
  const paths = asksForGrants ? checkRequirements(requiredRoles, requiredPermissions) : NONE_PATHS;

  const token = input.token.trim();
  if (token === "") return { active: false, reason: "malformed" };
  // Bound the work an oversized token can cause before parsing or verifying anything.
  if (Buffer.byteLength(token, "utf8") > deps.policy.maxTokenBytes) return { active: false, reason: "too_large" };
  // Legacy tokens of every configured profile too: the old APIs' backends may ask us about theirs.
  const check = await deps.tokens.verify(token, { audience: input.audience, now: deps.clock.now(), accept: "any" });
  if (!check.active) return check;
  if (!tenantHeaderAllows(ctx.tenantHeader, check.claims.tenant)) return { active: false, reason: "wrong_tenant" };
  // The signature proves who issued the token; only the session store knows whether it was
  // revoked. One round trip when it was not; the reason is looked up only when it was.
  const { userId } = check.claims;
  const session = await sessionOf(deps, check.claims);
  // A legacy token naming another tenant than its session's was not signed by us (see sessionOf).
  if (session === "mismatch") return { active: false, reason: "malformed" };
  if (session !== "active") return { active: false, reason: session };
  if (!asksForGrants) return check;

  // What the user holds now, not what the token listed when it was issued: a role taken away
  // stops counting within the grants cache's bound, and tokens need not carry permissions.
  const grants = await deps.grants.of(userId);
  const holds =
    grants !== null &&
    grants.tenant === check.claims.tenant &&
    requiredRoles.every((role) => grants.roles.includes(role)) &&
    paths.every((path) => holdsPermission(grants.permissions, path));
  return holds ? check : { active: false, reason: "insufficient_permissions" };
}

function checkRequirements(roles: readonly string[], permissions: readonly string[]): string[][] {
  if (roles.length > MAX_REQUIRED) throw invalidField("required_roles", `at most ${MAX_REQUIRED}`);
  if (permissions.length > MAX_REQUIRED) throw invalidField("required_permissions", `at most ${MAX_REQUIRED}`);
  for (const role of roles) if (role === "" || role.length > 64) throw invalidField("required_roles", "role names are 1 to 64 characters");
  return permissions.map((path) => parsePermissionPath("required_permissions", path));
}
