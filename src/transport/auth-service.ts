/**
 * The AuthService handlers, shared by every transport: each converts the request, calls one
 * domain flow and converts the result. A method missing here is a compile error.
 */
import type { Flows } from "../domain/flows.js";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import {
  loginOutcomeToProto,
  mfaEnrollmentToProto,
  mfaStatusToProto,
  sessionToProto,
  tokenCheckToProto,
  tokensToProto,
  userToProto,
} from "./convert.js";
import { qrCodePng } from "./qr.js";
import { type ServedService, type ServiceHandlers, serveService } from "./services.js";

export function authServiceHandlers(flows: Flows) {
  return {
    async register(req, ctx) {
      const user = await flows.register(ctx, { email: req.email, password: req.password, username: req.username, fullName: req.fullName });
      return { user: userToProto(user) };
    },
    async verifyEmail(req, ctx) {
      return { user: userToProto(await flows.verifyEmail(ctx, { token: req.token })) };
    },
    async resendVerification(req, ctx) {
      await flows.resendVerification(ctx, { email: req.email });
      return {};
    },
    async login(req, ctx) {
      return loginOutcomeToProto(await flows.signIn(ctx, { identifier: req.identifier, password: req.password }));
    },
    async verifyMfa(req, ctx) {
      return tokensToProto(await flows.verifyMfa(ctx, { mfaTicket: req.mfaTicket, code: req.code, recoveryCode: req.recoveryCode }));
    },
    async beginMfaEnrollment(req, ctx) {
      const enrollment = await flows.beginMfaEnrollment(ctx, { mfaTicket: req.mfaTicket });
      return mfaEnrollmentToProto(enrollment, await qrCodePng(enrollment.otpauthUri));
    },
    async confirmMfaEnrollment(req, ctx) {
      const { recoveryCodes, tokens } = await flows.confirmMfaEnrollment(ctx, { code: req.code, mfaTicket: req.mfaTicket });
      return { recoveryCodes: [...recoveryCodes], ...(tokens === undefined ? {} : { tokens: tokensToProto(tokens) }) };
    },
    async regenerateRecoveryCodes(req, ctx) {
      return { recoveryCodes: [...(await flows.regenerateRecoveryCodes(ctx, { code: req.code, password: req.password }))] };
    },
    async disableMfa(req, ctx) {
      await flows.disableMfa(ctx, { code: req.code, password: req.password });
      return {};
    },
    async getMfaStatus(_req, ctx) {
      return mfaStatusToProto(await flows.mfaStatus(ctx));
    },
    async refresh(req, ctx) {
      return tokensToProto(await flows.refresh(ctx, { refreshToken: req.refreshToken }));
    },
    async logout(req, ctx) {
      return { sessionsEnded: await flows.logout(ctx, { allSessions: req.allSessions }) };
    },
    async me(_req, ctx) {
      return { user: userToProto(await flows.me(ctx)) };
    },
    async changePassword(req, ctx) {
      const sessionsEnded = await flows.changePassword(ctx, { currentPassword: req.currentPassword, newPassword: req.newPassword });
      return { sessionsEnded };
    },
    async requestPasswordReset(req, ctx) {
      await flows.requestPasswordReset(ctx, { email: req.email });
      return {};
    },
    async resetPassword(req, ctx) {
      const { user, sessionsEnded } = await flows.resetPassword(ctx, { token: req.token, email: req.email, newPassword: req.newPassword });
      return { email: user.email, tenant: user.tenant, sessionsEnded };
    },
    async listSessions(_req, ctx) {
      return { sessions: (await flows.listSessions(ctx)).map(sessionToProto) };
    },
    async revokeSession(req, ctx) {
      await flows.revokeSession(ctx, { sessionId: req.sessionId });
      return {};
    },
    async validateToken(req, ctx) {
      return tokenCheckToProto(
        await flows.validateToken(ctx, {
          token: req.token,
          audience: req.audience,
          requiredRoles: req.requiredRoles,
          requiredPermissions: req.requiredPermissions,
        }),
      );
    },
  } satisfies ServiceHandlers<typeof AuthService>;
}

/** AuthService, served by the flows. */
export function authService(flows: Flows): ServedService {
  return serveService(AuthService, authServiceHandlers(flows));
}
