/** The mail section of the configuration: SMTP_URL, or a folder of files (MAIL_OUTBOX_DIR), and MAIL_FROM. */
import { join } from "node:path";
import type { ConfigReader } from "./reader.js";

/** Where verification and reset mail goes. */
export interface MailConfig {
  /** Where mail goes; undefined means the outbox folder. */
  readonly smtpUrl: string | undefined;
  /** Without SMTP_URL, each mail is a file here (MAIL_OUTBOX_DIR; DATA_DIR/outbox in embedded mode). */
  readonly mailOutboxDir: string;
  readonly mailFrom: string;
}

/**
 * Mail: SMTP, or a folder of files. Embedded, the folder is the default (DATA_DIR/outbox). With
 * DATABASE_URL set, mail written to a local folder nobody reads would silently break verification
 * and password reset, so one of SMTP_URL or MAIL_OUTBOX_DIR must be chosen on purpose.
 */
export function readMail(
  r: ConfigReader,
  stores: { readonly dataDir: string; readonly embedded: { readonly database: boolean } },
  serving: boolean,
): MailConfig {
  const smtpUrl = r.url("SMTP_URL", ["smtp:", "smtps:"]);
  const outboxDir = r.raw("MAIL_OUTBOX_DIR");
  if (smtpUrl !== undefined && outboxDir !== undefined) {
    r.problem("SMTP_URL and MAIL_OUTBOX_DIR: set only one of them (mail goes to SMTP or to the folder, not both)");
  } else if (smtpUrl === undefined && outboxDir === undefined && !stores.embedded.database && serving) {
    r.problem(
      "SMTP_URL (or MAIL_OUTBOX_DIR): one is required when DATABASE_URL is set; without them verification and " +
        "reset mail would be written to DATA_DIR/outbox, where nobody reads it. Set MAIL_OUTBOX_DIR to a folder " +
        "only if something there delivers or reads the files",
    );
  }
  return {
    smtpUrl,
    mailOutboxDir: outboxDir ?? join(stores.dataDir, "outbox"),
    mailFrom: r.str("MAIL_FROM", "Auth Service <no-reply@localhost>"),
  };
}

/**
 * Where the verification links of a user who registered through an old API's route point: UContact's
 * own confirmation route, which its clients open (UCONTACT_EMAIL_VERIFY_URL).
 */
export function readVerifyEmailUrlByApi(r: ConfigReader, publicUrl: string): { readonly ucontact: string } {
  return { ucontact: readTokenLinkTemplate(r, "UCONTACT_EMAIL_VERIFY_URL", `${publicUrl}/api/auth/confirmed_email/{token}`) };
}

/** A mailed link's template holding `{token}` once (the token goes there, as a path segment or a query value). */
function readTokenLinkTemplate(r: ConfigReader, name: string, fallback: string): string {
  const value = r.raw(name);
  if (value === undefined) return fallback;
  if (value.split("{token}").length !== 2 || !/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value.replace("{token}", "t"))) {
    r.problem(`${name}=${value}: expected an http(s) URL holding {token} once`);
    return fallback;
  }
  return value;
}
