/**
 * The outbox Mailer (no SMTP_URL): each message is written to a file in MAIL_OUTBOX_DIR (by default
 * DATA_DIR/outbox, embedded mode only) and the log says where. The message itself never goes to the
 * log: it holds a live one-time token, and logs must never hold a token.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Mailer } from "../../domain/ports.js";
import { invitationMail, type MailContent, passwordResetMail, verificationMail } from "./messages.js";

export function createOutboxMailer(dir: string, from: string, logger: Logger): Mailer {
  let sequence = 0;
  const send = async (to: string, kind: string, content: MailContent) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    sequence += 1;
    const file = join(dir, `${new Date().toISOString().replaceAll(":", "-")}-${sequence}-${kind}.txt`);
    const body = [`From: ${from}`, `To: ${to}`, `Subject: ${content.subject}`, "", content.text].join("\n");
    writeFileSync(file, body, { mode: 0o600 });
    logger.info({ to, subject: content.subject, file }, "mail written to the outbox folder (no SMTP_URL)");
  };
  return {
    sendVerification: (to, link, expiresAt) => send(to, "verify-email", verificationMail(link, expiresAt)),
    sendPasswordReset: (to, link, expiresAt) => send(to, "reset-password", passwordResetMail(link, expiresAt)),
    sendInvitation: (to, link, expiresAt) => send(to, "invitation", invitationMail(link, expiresAt)),
  };
}
