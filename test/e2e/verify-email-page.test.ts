/**
 * The mailed verification link: opening it (GET or HEAD, as mail scanners and link previews do)
 * spends nothing and shows a small, locked-down confirmation page; only its form POST, or the
 * API's JSON POST, verifies the address.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { reasonFromStatusJson } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

describe("the verification link", () => {
  let app: TestApp;
  let smtp: TestSmtp;

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "verify-page", env: { SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    await app?.stop();
    await smtp?.stop();
  });

  /** Registers an address and returns the link of its verification mail, on this test's server. */
  async function mailedLink(): Promise<{ email: string; link: string; token: string }> {
    const email = `page.${randomBytes(5).toString("hex")}@example.com`;
    const registered = await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: newPassword() }),
    });
    expect(registered.status).toBe(200);
    const mailed = linkIn(await smtp.waitFor(email, /Confirm your email/));
    const token = recordSecret(mailed.searchParams.get("token") ?? "");
    expect(mailed.pathname).toBe("/v1/auth/verify-email");
    return { email, token, link: `${app.baseUrl}${mailed.pathname}${mailed.search}` };
  }

  const submit = (token: string) =>
    fetch(`${app.baseUrl}/v1/auth/verify-email`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });

  const me = async (email: string) => {
    const check = await fetch(`${app.baseUrl}/v1/auth/resend-verification`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email }),
    });
    return check.status;
  };

  it("GET and HEAD of the link show a locked-down confirmation page and spend nothing; the page's POST verifies once", async () => {
    const { email, link, token } = await mailedLink();
    for (const method of ["GET", "HEAD", "GET"]) {
      const page = await fetch(link, { method });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(page.headers.get("cache-control")).toBe("no-store");
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      expect(page.headers.get("x-content-type-options")).toBe("nosniff");
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      const csp = page.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).not.toContain("unsafe-inline");
      if (method === "GET") {
        const html = await page.text();
        expect(html).toMatch(/<form method="post" action="verify-email">/);
        expect(html).toContain(`name="token" value="${token}"`);
        expect(html).not.toMatch(/<script|https?:\/\//);
      }
    }
    // Still unverified: a resend is accepted and mails a second link (the first stays valid).
    expect(await me(email)).toBe(200);

    const confirmed = await submit(token);
    expect(confirmed.status).toBe(200);
    expect(confirmed.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(confirmed.headers.get("referrer-policy")).toBe("no-referrer");
    expect(await confirmed.text()).toContain(`${email} is confirmed`);

    const again = await submit(token);
    expect(again.status).toBe(400);
    expect(again.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await again.text()).toContain("already used");
  });

  it("answers a bad or missing token with an HTML page, never a stack or JSON", async () => {
    const bad = await submit("garbage");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("not valid");
    const missing = await fetch(`${app.baseUrl}/v1/auth/verify-email`);
    expect(missing.status).toBe(400);
    expect(missing.headers.get("content-type")).toBe("text/html; charset=utf-8");
  });

  it("escapes whatever the query holds: a hostile token never becomes markup", async () => {
    const hostile = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    const page = await fetch(`${app.baseUrl}/v1/auth/verify-email?token=${encodeURIComponent(hostile)}`);
    const html = await page.text();
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).toContain("&#34;&#62;&#60;script&#62;");
  });

  it("keeps the API's JSON POST (the gateway's VerifyEmail route) working beside the page's form", async () => {
    const { token } = await mailedLink();
    const response = await fetch(`${app.baseUrl}/v1/auth/verify-email`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(((await response.json()) as { user: { emailVerified: boolean } }).user.emailVerified).toBe(true);
    const again = await submit(token);
    expect(again.status).toBe(400);
    const json = await fetch(`${app.baseUrl}/v1/auth/verify-email`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(reasonFromStatusJson(await json.json())).toBe("TOKEN_USED");
  });
});
