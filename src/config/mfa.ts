/** The second-factor (MFA) keys of the configuration's `policy` section. */
import type { AuthPolicy } from "../domain/ports.js";
import type { ConfigReader } from "./reader.js";

/**
 * Second factors. The window is the seed's (Solicitud Transporte: MFA_VALID_WINDOW=1, one 30 s step
 * either side of now); a ticket is short-lived because it stands for a password just proven, an
 * enrolment ticket longer because the user installs an app and scans a code with it.
 */
export function readMfa(r: ConfigReader): Pick<AuthPolicy, "mfaIssuer" | "mfaValidWindow" | "mfaTicketTtlMs" | "mfaEnrollmentTtlMs"> {
  const mfaIssuer = r.str("MFA_ISSUER_NAME", "Authward");
  // Authenticator apps split the account label at a colon, and show the issuer as it is.
  if (mfaIssuer.includes(":")) r.problem("MFA_ISSUER_NAME: must not contain a colon (authenticator apps split the label at it)");
  else if (mfaIssuer === "" || [...mfaIssuer].length > 64 || /[\p{Cc}\p{Cf}]/u.test(mfaIssuer)) {
    r.problem("MFA_ISSUER_NAME: 1 to 64 characters, no control or format characters");
  }
  return {
    mfaIssuer,
    mfaValidWindow: r.int("MFA_VALID_WINDOW", 1, 0, 10),
    mfaTicketTtlMs: r.duration("MFA_TICKET_TTL", "5m", 30_000),
    mfaEnrollmentTtlMs: r.duration("MFA_ENROLLMENT_TTL", "15m", 60_000),
  };
}
