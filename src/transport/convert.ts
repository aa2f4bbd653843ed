/** Converters between domain values and protobuf messages, named by direction. */
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { MfaEnrollment, MfaStatus } from "../domain/mfa/enrollment.js";
import {
  type AccessClaims,
  type InactiveReason,
  type IssuedTokens,
  type LoginOutcome,
  primaryRole,
  type TokenCheck,
  type User,
} from "../domain/model.js";
import type { ListedSession } from "../domain/sessions.js";
import {
  type BeginMfaEnrollmentResponseSchema,
  type GetMfaStatusResponseSchema,
  type LoginResponseSchema,
  InactiveReason as ProtoInactiveReason,
  type SessionSchema,
  type UserSchema,
  type ValidateTokenResponse,
  ValidateTokenResponseSchema,
} from "../gen/auth/v1/auth_pb.js";

export function userToProto(user: User): MessageInitShape<typeof UserSchema> {
  return {
    id: user.id,
    email: user.email,
    username: user.username ?? "",
    fullName: user.fullName ?? "",
    role: primaryRole(user.roles),
    roles: [...user.roles],
    isActive: user.isActive,
    emailVerified: user.emailVerifiedAt !== null,
    tenant: user.tenant,
    createdAt: timestampFromDate(user.createdAt),
    permissions: user.permissions as JsonObject,
    number: BigInt(user.number),
    attributes: user.attributes as JsonObject,
  };
}

/** The token fields LoginResponse and RefreshResponse share. */
export interface TokenResponseInit {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
  refreshExpiresIn: number;
  user: MessageInitShape<typeof UserSchema>;
}

export function tokensToProto(tokens: IssuedTokens): TokenResponseInit {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenType: "Bearer",
    expiresIn: tokens.expiresIn,
    refreshExpiresIn: tokens.refreshExpiresIn,
    user: userToProto(tokens.user),
  };
}

/** Login's answer: the tokens, or the ticket of the second step with every token field empty. */
export function loginOutcomeToProto(outcome: LoginOutcome): MessageInitShape<typeof LoginResponseSchema> {
  if (outcome.kind === "signed_in") return tokensToProto(outcome.tokens);
  return {
    mfaRequired: outcome.kind === "mfa_required",
    mfaEnrollmentRequired: outcome.kind === "mfa_enrollment_required",
    mfaTicket: outcome.ticket,
    mfaTicketExpiresIn: outcome.expiresIn,
  };
}

export function mfaEnrollmentToProto(
  enrollment: MfaEnrollment,
  qrCodePng: string,
): MessageInitShape<typeof BeginMfaEnrollmentResponseSchema> {
  return {
    secret: enrollment.secret,
    otpauthUri: enrollment.otpauthUri,
    qrCodePng,
    issuer: enrollment.issuer,
    account: enrollment.account,
    algorithm: enrollment.algorithm,
    digits: enrollment.digits,
    period: enrollment.periodSeconds,
    expiresAt: timestampFromMs(enrollment.expiresAt),
  };
}

export function mfaStatusToProto(status: MfaStatus): MessageInitShape<typeof GetMfaStatusResponseSchema> {
  return {
    enabled: status.enabled,
    ...(status.enabledAt === undefined ? {} : { enabledAt: timestampFromMs(status.enabledAt) }),
    recoveryCodesRemaining: status.recoveryCodesLeft,
    enrollmentPending: status.enrollmentPending,
  };
}

const inactiveReasonToProto = {
  malformed: ProtoInactiveReason.MALFORMED,
  bad_signature: ProtoInactiveReason.BAD_SIGNATURE,
  algorithm_not_allowed: ProtoInactiveReason.ALGORITHM_NOT_ALLOWED,
  unknown_key: ProtoInactiveReason.UNKNOWN_KEY,
  expired: ProtoInactiveReason.EXPIRED,
  not_yet_valid: ProtoInactiveReason.NOT_YET_VALID,
  wrong_issuer: ProtoInactiveReason.WRONG_ISSUER,
  wrong_audience: ProtoInactiveReason.WRONG_AUDIENCE,
  wrong_type: ProtoInactiveReason.WRONG_TYPE,
  revoked: ProtoInactiveReason.REVOKED,
  wrong_tenant: ProtoInactiveReason.WRONG_TENANT,
  too_large: ProtoInactiveReason.TOO_LARGE,
  user_disabled: ProtoInactiveReason.USER_DISABLED,
  insufficient_permissions: ProtoInactiveReason.INSUFFICIENT_PERMISSIONS,
} as const satisfies Record<InactiveReason, ProtoInactiveReason>;

export function sessionToProto(session: ListedSession): MessageInitShape<typeof SessionSchema> {
  return {
    id: session.id,
    createdAt: timestampFromMs(session.createdAt),
    lastUsedAt: timestampFromMs(session.lastUsedAt),
    expiresAt: timestampFromMs(session.expiresAt),
    ip: session.ip ?? "",
    userAgent: session.userAgent ?? "",
    current: session.current,
  };
}

/** Answers already built, by claims: a remembered token's claims are one object, reused on every call. */
const answers = new WeakMap<AccessClaims, ValidateTokenResponse>();

/**
 * The ValidateToken answer. For claims that answer many calls (frozen: a remembered token's) it is
 * a frozen message, the same object for the same claims object, so that transports can serialize
 * it once (see the gRPC server); for claims of their own (a token verified and not remembered),
 * a plain answer that nothing keeps.
 */
export function tokenCheckToProto(check: TokenCheck): MessageInitShape<typeof ValidateTokenResponseSchema> {
  if (!check.active) return { active: false, reason: inactiveReasonToProto[check.reason] };
  if (!Object.isFrozen(check.claims)) return activeAnswer(check.claims);
  const known = answers.get(check.claims);
  if (known !== undefined) return known;
  const answer = deepFreeze(create(ValidateTokenResponseSchema, activeAnswer(check.claims)));
  answers.set(check.claims, answer);
  return answer;
}

function deepFreeze<T extends object>(value: T): T {
  for (const field of Object.values(value)) if (typeof field === "object" && field !== null) deepFreeze(field);
  return Object.freeze(value);
}

function activeAnswer(claims: AccessClaims): MessageInitShape<typeof ValidateTokenResponseSchema> {
  return {
    active: true,
    userId: claims.userId,
    tenant: claims.tenant,
    sessionId: claims.sessionId,
    roles: [...claims.roles],
    email: claims.email,
    emailVerified: claims.emailVerified,
    username: claims.username ?? "",
    issuedAt: timestampFromMs(claims.issuedAt * 1000),
    expiresAt: timestampFromMs(claims.expiresAt * 1000),
    amr: [...claims.amr],
    tokenProfile: claims.profile ?? "",
  };
}
