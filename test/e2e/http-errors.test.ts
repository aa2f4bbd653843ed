/**
 * One set of bad inputs sent to every family of routes on the HTTP port (the REST gateway, the
 * OAuth token endpoint, each seed API, Connect): each answers in its own documented status and body
 * shape, and all of them follow the shared rules of src/transport/http/errors.ts: a body over the
 * limit closes the connection, a 401 carries WWW-Authenticate, and only a bad token (never a
 * missing one, never a wrong password) is `error="invalid_token"`.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword } from "../support/secrets.js";

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

type Body = "json" | "form";

/** A route of one family, and the kind of body it reads. */
interface Route {
  readonly family: string;
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: Body;
}

const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };

/** A login route of each family that reads a body, with the status its documents give each failure. */
const loginRoutes: (Route & { tooLarge: number; badBody: number; wrongPassword: number })[] = [
  { family: "gateway", method: "POST", path: "/v1/auth/login", body: "json", tooLarge: 413, badBody: 400, wrongPassword: 401 },
  { family: "oauth", method: "POST", path: "/v1/auth/token", body: "form", tooLarge: 413, badBody: 400, wrongPassword: 400 },
  { family: "vidaplus", method: "POST", path: "/auth/token", body: "form", tooLarge: 413, badBody: 422, wrongPassword: 401 },
  { family: "vigia", method: "POST", path: "/api/v1/auth/login", body: "form", tooLarge: 413, badBody: 422, wrongPassword: 401 },
  { family: "solicitud", method: "POST", path: "/auth/login", body: "json", tooLarge: 413, badBody: 422, wrongPassword: 422 },
  { family: "ucontact", method: "POST", path: "/api/auth/login", body: "form", tooLarge: 413, badBody: 422, wrongPassword: 401 },
  // Connect answers by its protocol's table: a body over the limit is INVALID_ARGUMENT, 400.
  { family: "connect", method: "POST", path: "/auth.v1.AuthService/Login", body: "json", tooLarge: 400, badBody: 400, wrongPassword: 401 },
];

/** A route of each family that needs a bearer token. */
const tokenRoutes: Route[] = [
  { family: "gateway", method: "GET", path: "/v1/auth/me" },
  { family: "vidaplus", method: "POST", path: "/auth/refresh_token" },
  { family: "vigia", method: "GET", path: "/api/v1/auth/me" },
  { family: "connect", method: "POST", path: "/auth.v1.AuthService/Me", body: "json" },
];

/** The seed APIs' servers challenged with a bare `Bearer`, whatever was wrong; they keep doing so. */
const plainChallenge = new Set(["vidaplus", "vigia", "solicitud", "ucontact"]);

describe("every route family under the same bad inputs", () => {
  let app: TestApp;
  let email: string;
  let password: string;
  // Keep-alive, as browsers and SDKs ask: the server then closes only when its rules say so.
  const agent = new Agent({ keepAlive: true });

  function send(route: Pick<Route, "method" | "path">, headers: Record<string, string>, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port: app.httpPort, method: route.method, path: route.path, headers, agent }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      // The server may answer and close before it has read all of an oversized body.
      req.on("error", (error: NodeJS.ErrnoException) =>
        error.code === "EPIPE" || error.code === "ECONNRESET" ? undefined : reject(error),
      );
      req.end(body);
    });
  }

  const credentials = (route: Route) =>
    route.body === "json"
      ? {
          headers: JSON_TYPE,
          body: JSON.stringify(
            route.family === "connect" || route.family === "gateway" ? { identifier: email, password } : { username: email, password },
          ),
        }
      : { headers: FORM_TYPE, body: new URLSearchParams({ grant_type: "password", username: email, password }).toString() };

  beforeAll(async () => {
    app = await startTestApp({ name: "http-errors" });
    email = `parity.${randomBytes(5).toString("hex")}@example.com`;
    password = newPassword();
    const registered = await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ email, password }),
    });
    expect(registered.status).toBe(200);
  });
  afterAll(async () => {
    agent.destroy();
    await app?.stop();
  });

  describe.each(loginRoutes)("$family $path", (route) => {
    it("answers a body over the limit with its status and closes the connection", async () => {
      const type = route.body === "json" ? JSON_TYPE : FORM_TYPE;
      const answer = await send(route, type, "x".repeat(app.config.maxRequestBytes + 1));
      expect(answer.status).toBe(route.tooLarge);
      expect(answer.headers.connection).toBe("close");
      expect(answer.body).toContain("REQUEST_TOO_LARGE");
    });

    it("answers a wrong content type as a bad request and keeps the connection", async () => {
      const answer = await send(
        route,
        { "content-type": route.body === "json" ? "application/x-www-form-urlencoded" : "application/json" },
        "{}",
      );
      // Connect refuses a media type it does not speak before any handler runs (its protocol's 415).
      expect(answer.status).toBe(route.family === "connect" ? 415 : route.badBody);
      expect(answer.headers.connection).not.toBe("close");
    });

    it.runIf(route.body === "json")("answers malformed JSON as a bad request", async () => {
      const answer = await send(route, JSON_TYPE, "{oops");
      expect(answer.status).toBe(route.badBody);
      expect(answer.body).toContain("INVALID_REQUEST");
      expect(answer.headers["www-authenticate"]).toBeUndefined();
    });

    it("answers a wrong password with its status, and never calls it an invalid token", async () => {
      const { headers, body } = credentials(route);
      const answer = await send(route, headers, body.replace(encodeURIComponent(password), "wrong").replace(password, "wrong"));
      expect(answer.status).toBe(route.wrongPassword);
      expect(answer.body).toContain("INVALID_CREDENTIALS");
      if (answer.status === 401) expect(answer.headers["www-authenticate"]).toBe("Bearer");
      else expect(answer.headers["www-authenticate"]).toBeUndefined();
    });

    it("takes a client that hangs up halfway through its body for no server error (log level, metrics)", async () => {
      const type = route.body === "json" ? JSON_TYPE : FORM_TYPE;
      await new Promise<void>((resolve, reject) => {
        const socket = connect(app.httpPort, "127.0.0.1", () => {
          const head = Object.entries({ ...type, "content-length": "100", host: "x" }).map(([k, v]) => `${k}: ${v}\r\n`);
          socket.write(`${route.method} ${route.path} HTTP/1.1\r\n${head.join("")}\r\n{"ab`);
          setTimeout(() => socket.destroy(), 100);
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
      // The call ends once the server sees the socket close: give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const metrics = await (await fetch(app.metricsUrl)).text();
      expect(metrics).not.toMatch(/auth_requests_total\{[^}]*code="Internal"/);
      const errors = readFileSync(app.logFile, "utf8")
        .split("\n")
        .filter((line) => line.includes('"level":"error"'));
      expect(errors).toEqual([]);
    });

    it("still answers the right password (the inputs above were the only problem)", async () => {
      const { headers, body } = credentials(route);
      const answer = await send(route, headers, body);
      expect(answer.status).toBe(200);
    });
  });

  describe.each(tokenRoutes)("$family $path", (route) => {
    const headers = route.body === "json" ? JSON_TYPE : {};
    const body = route.body === "json" ? "{}" : undefined;

    it("answers a missing token with 401 and a bare Bearer challenge", async () => {
      const answer = await send(route, headers, body);
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer");
      expect(answer.body).toContain("TOKEN_MISSING");
    });

    it("answers a bad token with 401 and says invalid_token where its API does", async () => {
      const answer = await send(route, { ...headers, authorization: "Bearer not-a-token" }, body);
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe(plainChallenge.has(route.family) ? "Bearer" : 'Bearer error="invalid_token"');
      expect(answer.body).toContain("TOKEN_INVALID");
    });
  });
});
