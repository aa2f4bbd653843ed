/**
 * The AuthService handlers, shared by every transport: each converts the request, calls one
 * domain flow and converts the result. A method missing here is a compile error.
 */
import { create, type DescMethod, type Message, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { changePassword, me } from "../domain/account.js";
import { resendVerification, verifyEmail } from "../domain/email-verification.js";
import { login } from "../domain/login.js";
import { logout } from "../domain/logout.js";
import type { RequestContext } from "../domain/model.js";
import { requestPasswordReset, resetPassword } from "../domain/password-reset.js";
import type { AuthDeps } from "../domain/ports.js";
import { refresh } from "../domain/refresh.js";
import { register } from "../domain/register.js";
import { listSessions, revokeSession } from "../domain/sessions.js";
import { validateToken } from "../domain/validate-token.js";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { sessionToProto, tokenCheckToProto, tokensToProto, userToProto } from "./convert.js";

type Methods = (typeof AuthService)["method"];

export type AuthHandlers = {
  [K in keyof Methods]: (
    request: MessageShape<Methods[K]["input"]>,
    ctx: RequestContext,
  ) => Promise<MessageInitShape<Methods[K]["output"]>>;
};

/**
 * Calls one handler as a transport would: builds the request message from `request`, and returns
 * the full response message (every field set). For routes that reshape answers (OAuth, the seed
 * APIs).
 */
export async function invoke<K extends keyof Methods>(
  handlers: AuthHandlers,
  name: K,
  request: MessageInitShape<Methods[K]["input"]>,
  ctx: RequestContext,
): Promise<MessageShape<Methods[K]["output"]>> {
  const method = AuthService.method[name] as DescMethod;
  const handler = handlerFor(handlers, method);
  const response = await handler(create(method.input, request as Record<string, unknown>), ctx);
  return create(method.output, response as Record<string, unknown>) as MessageShape<Methods[K]["output"]>;
}

/** A handler without its per-method types, for transports that dispatch by descriptor. */
export type UntypedHandler = (request: Message, ctx: RequestContext) => Promise<object>;

/** The handler of `method` (looked up by its descriptor's local name). */
export function handlerFor(handlers: AuthHandlers, method: DescMethod): UntypedHandler {
  const handler = (handlers as unknown as Record<string, UntypedHandler | undefined>)[method.localName];
  if (handler === undefined) throw new Error(`no handler for ${method.name}`);
  return handler;
}

export function createAuthHandlers(deps: AuthDeps): AuthHandlers {
  return {
    async register(req, ctx) {
      const user = await register(deps, ctx, {
        email: req.email,
        password: req.password,
        username: req.username,
        fullName: req.fullName,
      });
      return { user: userToProto(user) };
    },
    async verifyEmail(req, ctx) {
      return { user: userToProto(await verifyEmail(deps, ctx, { token: req.token })) };
    },
    async resendVerification(req, ctx) {
      await resendVerification(deps, ctx, { email: req.email });
      return {};
    },
    async login(req, ctx) {
      return tokensToProto(await login(deps, ctx, { identifier: req.identifier, password: req.password }));
    },
    async refresh(req, ctx) {
      return tokensToProto(await refresh(deps, ctx, { refreshToken: req.refreshToken }));
    },
    async logout(req, ctx) {
      return { sessionsEnded: await logout(deps, ctx, { allSessions: req.allSessions }) };
    },
    async me(_req, ctx) {
      return { user: userToProto(await me(deps, ctx)) };
    },
    async changePassword(req, ctx) {
      const sessionsEnded = await changePassword(deps, ctx, {
        currentPassword: req.currentPassword,
        newPassword: req.newPassword,
      });
      return { sessionsEnded };
    },
    async requestPasswordReset(req, ctx) {
      await requestPasswordReset(deps, ctx, { email: req.email });
      return {};
    },
    async resetPassword(req, ctx) {
      const { user, sessionsEnded } = await resetPassword(deps, ctx, { token: req.token, email: req.email, newPassword: req.newPassword });
      return { email: user.email, tenant: user.tenant, sessionsEnded };
    },
    async listSessions(_req, ctx) {
      return { sessions: (await listSessions(deps, ctx)).map(sessionToProto) };
    },
    async revokeSession(req, ctx) {
      await revokeSession(deps, ctx, { sessionId: req.sessionId });
      return {};
    },
    async validateToken(req, ctx) {
      return tokenCheckToProto(await validateToken(deps, ctx, { token: req.token, audience: req.audience }));
    },
  };
}
