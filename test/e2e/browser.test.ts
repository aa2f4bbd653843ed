/**
 * The HTTP port in a real browser: Debian's Chromium, driven by playwright-core. A page served on
 * another origin (another port) calls the API the way browser apps do: Login over Connect, Me over
 * REST and over gRPC-Web, each behind a CORS preflight; a page on an origin that is not on
 * CORS_ALLOWED_ORIGINS is blocked by the browser (its script sees a network error). The same
 * browser also opens the verification link and presses its button, and renders /docs, both under
 * their Content-Security-Policy, with no violation reported; /docs refuses to be framed.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

/** A blank page on its own origin, and a page that frames `frame` when asked. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const frame = new URL(req.url ?? "/", "http://x").searchParams.get("frame");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(
      `<!doctype html><html><body><h1>an app</h1>${frame ? `<iframe src="${frame}" width="800" height="600"></iframe>` : ""}</body></html>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("a browser app on another origin", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  let browser: Browser;
  let allowed: { server: Server; origin: string };
  let refused: { server: Server; origin: string };
  const email = `browser.${randomBytes(5).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    allowed = await pageServer();
    refused = await pageServer();
    smtp = await createTestSmtp();
    app = await startTestApp({
      name: "browser",
      env: { CORS_ALLOWED_ORIGINS: `${allowed.origin}, https://other.example`, SMTP_URL: smtp.url },
    });
    const registered = await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    expect(registered.status).toBe(200);
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await smtp?.stop();
    allowed?.server.close();
    refused?.server.close();
  });

  /** Runs the app's calls in a page of `origin`: Login (Connect JSON), then Me over REST and over gRPC-Web (JSON codec). */
  async function callsFrom(origin: string) {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(
        async ({ base, identifier, secret }) => {
          try {
            const login = await fetch(`${base}/auth.v1.AuthService/Login`, {
              method: "POST",
              headers: { "content-type": "application/json", "connect-protocol-version": "1", "x-tenant": "default" },
              body: JSON.stringify({ identifier, password: secret }),
            });
            const tokens = (await login.json()) as { accessToken: string };
            const authorization = `Bearer ${tokens.accessToken}`;
            const me = (await (
              await fetch(`${base}/v1/auth/me`, { headers: { authorization, "x-request-id": "from-the-page" } })
            ).json()) as {
              user?: { email?: string };
            };
            // gRPC-Web with the JSON codec: one length-prefixed message in, a message and a trailer frame out.
            const body = new TextEncoder().encode("{}");
            const frame = new Uint8Array(5 + body.length);
            new DataView(frame.buffer).setUint32(1, body.length);
            frame.set(body, 5);
            const web = await fetch(`${base}/auth.v1.AuthService/Me`, {
              method: "POST",
              headers: { "content-type": "application/grpc-web+json", "x-grpc-web": "1", authorization },
              body: frame,
            });
            const bytes = new Uint8Array(await web.arrayBuffer());
            const length = new DataView(bytes.buffer).getUint32(1);
            const webMe = JSON.parse(new TextDecoder().decode(bytes.subarray(5, 5 + length)));
            return {
              ok: true,
              loginStatus: login.status,
              requestId: login.headers.get("x-request-id"),
              meEmail: me.user?.email,
              webEmail: webMe.user?.email,
              accessToken: tokens.accessToken as string,
            };
          } catch (error) {
            return { ok: false, error: `${(error as Error).name}: ${(error as Error).message}` };
          }
        },
        { base: app.baseUrl, identifier: email, secret: password },
      );
    } finally {
      await page.close();
    }
  }

  it("lets a page on an allowed origin log in and call Me over Connect, REST and gRPC-Web", async () => {
    const result = await callsFrom(allowed.origin);
    if (result.ok && result.accessToken) recordSecret(result.accessToken);
    expect(result).toMatchObject({ ok: true, loginStatus: 200, meEmail: email, webEmail: email });
    // An exposed header: the page can read the request id.
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("blocks a page on an origin that is not on the list: its script sees a network error", async () => {
    const result = await callsFrom(refused.origin);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^TypeError: Failed to fetch/);
  });

  it("answers preflights from the list only, with the exact origin, never * and never credentials", async () => {
    const preflight = (origin: string, path: string) =>
      fetch(`${app.baseUrl}${path}`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type,x-tenant",
        },
      });
    for (const path of ["/auth.v1.AuthService/Login", "/v1/auth/login", "/v1/auth/token", "/api/v1/auth/login"]) {
      const yes = await preflight(allowed.origin, path);
      expect(yes.status, path).toBe(204);
      expect(yes.headers.get("access-control-allow-origin")).toBe(allowed.origin);
      expect(yes.headers.get("access-control-allow-credentials")).toBeNull();
      expect(yes.headers.get("vary")).toContain("Origin");
      const headers = (yes.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/,\s*/);
      expect(headers).toEqual(
        expect.arrayContaining(["authorization", "x-tenant", "x-request-id", "content-type", "connect-protocol-version", "x-grpc-web"]),
      );
      expect(yes.headers.get("access-control-allow-methods")).toContain("POST");
      const no = await preflight(refused.origin, path);
      expect(no.status).toBe(403);
      expect(no.headers.get("access-control-allow-origin")).toBeNull();
    }
    // A path that is no route is a 404 to a preflight too.
    expect((await preflight(allowed.origin, "/nope")).status).toBe(404);
    // A simple request from a refused origin is answered, but without the header that would let the page read it.
    const simple = await fetch(`${app.baseUrl}/healthz`, { headers: { origin: refused.origin } });
    expect(simple.headers.get("access-control-allow-origin")).toBeNull();
    expect(simple.headers.get("vary")).toContain("Origin");
  });

  it("confirms an address from the mailed link's page, its button and its result page, with no CSP violation", async () => {
    const other = `browser.verify.${randomBytes(5).toString("hex")}@example.com`;
    await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: other, password: newPassword() }),
    });
    const link = linkIn(await smtp.waitFor(other, /Confirm your email/));
    recordSecret(link.searchParams.get("token") ?? "");
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content[- ]Security[- ]Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    try {
      await page.goto(`${app.baseUrl}${link.pathname}${link.search}`);
      expect(await page.locator("h1").textContent()).toBe("Confirm your email address");
      await Promise.all([page.waitForNavigation(), page.locator("button[type=submit]").click()]);
      expect(await page.locator("h1").textContent()).toBe("Your email address is confirmed");
      expect(await page.locator("main").textContent()).toContain(other);
      expect(violations).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("renders /docs under its policy, and refuses to be framed by another origin", async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content[- ]Security[- ]Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    try {
      await page.goto(`${app.baseUrl}/docs`);
      await page.locator(".swagger-ui .info .title").waitFor({ timeout: 20_000 });
      expect(await page.locator(".swagger-ui .opblock").count()).toBeGreaterThan(5);
      expect(violations).toEqual([]);

      await page.goto(`${allowed.origin}/?frame=${encodeURIComponent(`${app.baseUrl}/docs`)}`);
      await page.waitForTimeout(1000);
      const framed = page.frames().find((frame) => frame !== page.mainFrame());
      expect(framed).toBeDefined();
      expect(await framed!.locator(".swagger-ui").count()).toBe(0);
    } finally {
      await page.close();
    }
  });
});
