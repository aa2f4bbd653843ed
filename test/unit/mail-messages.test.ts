import { describe, expect, it } from "vitest";
import { passwordResetMail, verificationMail } from "../../src/infra/mail/messages.js";

describe("mail messages", () => {
  const expiresAt = new Date("2030-05-06T07:08:09Z");

  it("put the link and the expiry in the text and in the HTML", () => {
    const link = new URL("https://auth.example.com/v1/auth/verify-email?token=abc");
    const mail = verificationMail(link, expiresAt);
    expect(mail.subject).toBe("Confirm your email address");
    expect(mail.text).toContain(link.toString());
    expect(mail.text).toContain("2030-05-06 07:08 UTC");
    expect(mail.html).toContain(`href="${link.toString()}"`);
  });

  it("escape what they put in HTML", () => {
    const link = new URL('https://app.example.com/reset?x=<script>&y="1"&token=abc');
    const { html } = passwordResetMail(link, expiresAt);
    expect(html).not.toContain("<script>");
    expect(html).toContain("&amp;");
    expect(html).not.toMatch(/href="[^"]*"[^>]*"1/);
  });
});
