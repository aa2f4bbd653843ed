/** The Mailer port over SMTP (nodemailer), configured by SMTP_URL and MAIL_FROM. */
import type { Transporter } from "nodemailer";
import type { Mailer } from "../../domain/ports.js";
import { invitationMail, type MailContent, passwordResetMail, verificationMail } from "./messages.js";

/** smtp://user:pass@host:587 (STARTTLS when offered) or smtps://host:465; `?requireTLS=true` insists. */
export function createSmtpMailer(smtpUrl: string, from: string): Mailer & { close(): void } {
  const url = new URL(smtpUrl);
  const secure = url.protocol === "smtps:";
  const options = {
    host: url.hostname,
    port: url.port === "" ? (secure ? 465 : 587) : Number(url.port),
    secure,
    requireTLS: url.searchParams.get("requireTLS") === "true",
    ...(url.username !== "" ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    // Fail within seconds rather than holding a background task for minutes.
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10_000,
  };
  // nodemailer is loaded at the first mail, not at start-up: its modules took ~2 MB of each
  // worker's old generation, held by every process that has sent no mail yet.
  let transport: Promise<Transporter> | undefined;
  const send = async (to: string, content: MailContent) => {
    transport ??= import("nodemailer").then(({ createTransport }) => createTransport(options));
    await (await transport).sendMail({ from, to, subject: content.subject, text: content.text, html: content.html });
  };
  return {
    sendVerification: (to, link, expiresAt) => send(to, verificationMail(link, expiresAt)),
    sendPasswordReset: (to, link, expiresAt) => send(to, passwordResetMail(link, expiresAt)),
    sendInvitation: (to, link, expiresAt) => send(to, invitationMail(link, expiresAt)),
    close: () => void transport?.then((opened) => opened.close()),
  };
}
