/** The text and HTML of the mails the service sends. */

export interface MailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");

const when = (date: Date) => `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;

function render(subject: string, paragraphs: readonly string[], link: URL, action: string, closing: string): MailContent {
  const href = link.toString();
  const text = [...paragraphs, href, closing].join("\n\n");
  const html = [
    "<!doctype html>",
    `<html><body style="font-family: sans-serif; line-height: 1.5">`,
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    `<p><a href="${escapeHtml(href)}">${escapeHtml(action)}</a></p>`,
    `<p style="font-size: small">Or copy this address into your browser: ${escapeHtml(href)}</p>`,
    `<p>${escapeHtml(closing)}</p>`,
    "</body></html>",
  ].join("\n");
  return { subject, text: `${text}\n`, html };
}

export function verificationMail(link: URL, expiresAt: Date): MailContent {
  return render(
    "Confirm your email address",
    ["Hello,", "please confirm your email address by opening this link:"],
    link,
    "Confirm my email address",
    `The link works once and until ${when(expiresAt)}. If you did not create an account, ignore this message.`,
  );
}

export function passwordResetMail(link: URL, expiresAt: Date): MailContent {
  return render(
    "Reset your password",
    ["Hello,", "someone, hopefully you, asked to reset the password of your account. To choose a new one, open this link:"],
    link,
    "Choose a new password",
    `The link works once and until ${when(expiresAt)}. If you did not ask for this, ignore this message: your password stays as it is.`,
  );
}

export function invitationMail(link: URL, expiresAt: Date): MailContent {
  return render(
    "You have been invited",
    ["Hello,", "an administrator created an account for you. To choose your password and sign in, open this link:"],
    link,
    "Choose my password",
    `The link works once and until ${when(expiresAt)}. If you did not expect this, ignore this message.`,
  );
}
