/**
 * The second step of a sign-in on the routes that answer it as an error (the OAuth token endpoint,
 * as the usual practice does, and Solicitud Transporte's `/auth/login`): an AuthError
 * MFA_REQUIRED or MFA_ENROLLMENT_REQUIRED (PERMISSION_DENIED, 403) that carries the challenge for
 * the route's error format to put in its body. The ticket is a field of the error, never its
 * metadata, so it reaches neither the call's log line nor an ErrorInfo detail.
 */
import { AuthError } from "../../domain/errors.js";
import type { MfaChallenge } from "../../domain/model.js";

export class MfaChallengeError extends AuthError {
  readonly challenge: MfaChallenge;

  constructor(challenge: MfaChallenge) {
    super(challenge.kind === "mfa_required" ? "MFA_REQUIRED" : "MFA_ENROLLMENT_REQUIRED");
    this.challenge = challenge;
  }
}
