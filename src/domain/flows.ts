/**
 * The flows bound to their ports: what transports call. The composition root binds them once
 * (`bindFlows(deps)`), so that no transport holds a port; each flow keeps its own signature minus
 * the `deps` argument, and a test can bind them to in-memory fakes.
 */
import { changePassword, me } from "./account.js";
import { resendVerification, verifyEmail } from "./email-verification.js";
import { login, signIn } from "./login.js";
import { logout } from "./logout.js";
import { beginMfaEnrollment, confirmMfaEnrollment, disableMfa, mfaStatus, regenerateRecoveryCodes } from "./mfa/enrollment.js";
import { verifyMfa } from "./mfa/verify.js";
import { requestPasswordReset, resetPassword } from "./password-reset.js";
import type { AuthDeps } from "./ports.js";
import { refresh } from "./refresh.js";
import { register } from "./register.js";
import { reissueAccessToken } from "./reissue.js";
import { listSessions, revokeSession } from "./sessions.js";
import { validateToken } from "./validate-token.js";

/** A flow without its first argument, the ports. */
type Bound<F> = F extends (deps: AuthDeps, ...args: infer A) => infer R ? (...args: A) => R : never;

export interface Flows {
  readonly register: Bound<typeof register>;
  readonly verifyEmail: Bound<typeof verifyEmail>;
  readonly resendVerification: Bound<typeof resendVerification>;
  readonly login: Bound<typeof login>;
  readonly signIn: Bound<typeof signIn>;
  readonly refresh: Bound<typeof refresh>;
  readonly reissueAccessToken: Bound<typeof reissueAccessToken>;
  readonly logout: Bound<typeof logout>;
  readonly me: Bound<typeof me>;
  readonly changePassword: Bound<typeof changePassword>;
  readonly requestPasswordReset: Bound<typeof requestPasswordReset>;
  readonly resetPassword: Bound<typeof resetPassword>;
  readonly listSessions: Bound<typeof listSessions>;
  readonly revokeSession: Bound<typeof revokeSession>;
  readonly validateToken: Bound<typeof validateToken>;
  readonly verifyMfa: Bound<typeof verifyMfa>;
  readonly beginMfaEnrollment: Bound<typeof beginMfaEnrollment>;
  readonly confirmMfaEnrollment: Bound<typeof confirmMfaEnrollment>;
  readonly regenerateRecoveryCodes: Bound<typeof regenerateRecoveryCodes>;
  readonly disableMfa: Bound<typeof disableMfa>;
  readonly mfaStatus: Bound<typeof mfaStatus>;
}

export function bindFlows(deps: AuthDeps): Flows {
  return {
    register: (...args) => register(deps, ...args),
    verifyEmail: (...args) => verifyEmail(deps, ...args),
    resendVerification: (...args) => resendVerification(deps, ...args),
    login: (...args) => login(deps, ...args),
    signIn: (...args) => signIn(deps, ...args),
    refresh: (...args) => refresh(deps, ...args),
    reissueAccessToken: (...args) => reissueAccessToken(deps, ...args),
    logout: (...args) => logout(deps, ...args),
    me: (...args) => me(deps, ...args),
    changePassword: (...args) => changePassword(deps, ...args),
    requestPasswordReset: (...args) => requestPasswordReset(deps, ...args),
    resetPassword: (...args) => resetPassword(deps, ...args),
    listSessions: (...args) => listSessions(deps, ...args),
    revokeSession: (...args) => revokeSession(deps, ...args),
    validateToken: (...args) => validateToken(deps, ...args),
    verifyMfa: (...args) => verifyMfa(deps, ...args),
    beginMfaEnrollment: (...args) => beginMfaEnrollment(deps, ...args),
    confirmMfaEnrollment: (...args) => confirmMfaEnrollment(deps, ...args),
    regenerateRecoveryCodes: (...args) => regenerateRecoveryCodes(deps, ...args),
    disableMfa: (...args) => disableMfa(deps, ...args),
    mfaStatus: (...args) => mfaStatus(deps, ...args),
  };
}
