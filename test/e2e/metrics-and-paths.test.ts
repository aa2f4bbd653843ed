/**
 * Metrics are for operators only: they are served on their own listener (loopback by default),
 * never on the API port, under any spelling of the path; and on the API port a path that is not
 * exactly a route is 404, whatever a normalizer would make of it. Sent with node:http, which
 * sends a path as written (fetch would normalize it first).
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startTestApp, type TestApp } from "../support/app.js";

function get(port: number, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("metrics and exact paths", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ name: "metrics-paths" });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("binds the metrics listener to loopback on port 9464 unless told otherwise", () => {
    const config = loadConfig({});
    expect(config.metrics).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(app.config.metrics.host).toBe("127.0.0.1");
  });

  it("serves the login outcomes on the metrics listener, and nothing else there", async () => {
    const metricsPort = Number(new URL(app.metricsUrl).port);
    const metrics = await get(metricsPort, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain("auth_logins_total");
    expect(metrics.body).toContain("auth_requests_total");
    for (const path of ["/metrics/", "//metrics", "/./metrics", "/healthz", "/"])
      expect((await get(metricsPort, path)).status, path).toBe(404);
    expect((await get(metricsPort, "/metrics", "POST")).status).toBe(404);
  });

  it.each(["/metrics", "//x/metrics", "/metrics/", "/./metrics", "/%2e/metrics", "/x/../metrics", "/x/%2E%2E/metrics", "http://x/metrics"])(
    "has no metrics on the API port: GET %s is 404",
    async (path) => {
      const answer = await get(app.httpPort, path);
      expect(answer.status).toBe(404);
      expect(answer.body).not.toContain("auth_logins_total");
    },
  );

  it.each([
    "//healthz",
    "/healthz/",
    "/healthz/..",
    "/healthz/.",
    "/./healthz",
    "/%68ealthz",
    "/healthz%2f",
    "/healthz%00",
    "/healthz\\",
    "/.well-known/../healthz",
    "/docs/",
    "/docs/./swagger-ui.css",
    "/docs//init.js",
    "/v1/auth/me/",
    "/v1//auth/me",
    "/v1/auth/%6De",
    "/v1/auth/sessions/%2e%2e",
    "/v1/auth/sessions/a%2fb",
    "/v1/auth/sessions/%zz",
    "/auth.v1.AuthService//Login",
    "/auth.v1.AuthService/Login/",
    "/api/auth/confirmed_email/..",
  ])("answers %s, not exactly a route, with 404", async (path) => {
    expect((await get(app.httpPort, path)).status).toBe(404);
  });

  it("still serves the exact paths, an absolute-form target and a path variable with an escape", async () => {
    expect((await get(app.httpPort, "/healthz")).status).toBe(200);
    expect((await get(app.httpPort, "/healthz?x=1")).status).toBe(200);
    expect((await get(app.httpPort, "http://localhost/healthz")).status).toBe(200);
    expect((await get(app.httpPort, "/docs/swagger-ui.css")).status).toBe(200);
    // A session id with an escape reaches the route (401: no token), not a 404.
    expect((await get(app.httpPort, "/v1/auth/sessions/abc%20def", "DELETE")).status).toBe(401);
  });
});
