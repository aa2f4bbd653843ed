/**
 * Keys a caller names are data, never a path into an ordinary object: query parameter names, JSON
 * body keys, form fields and path values, sent over real HTTP to a real server in this process, so
 * that a pollution of `Object.prototype` by the server would be seen here. A fast-check property
 * drives the REST gateway (and the other families that parse keys) with arbitrary field paths; a
 * few fixed cases pin the answers.
 */
import { Agent, request as httpRequest } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";

let service: TestApp;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
const prototypeKeys = Reflect.ownKeys(Object.prototype);

beforeAll(async () => {
  service = await startTestApp({ name: "hostile-keys" });
});

afterAll(async () => {
  agent.destroy();
  await service?.stop();
});

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(method: string, path: string, body?: string, contentType?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers["content-type"] = contentType ?? "application/json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const req = httpRequest({ host: "127.0.0.1", port: service.httpPort, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function expectPrototypeUntouched(): void {
  expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  const probe: Record<string, unknown> = {};
  for (const name of ["x", "polluted", "token", "isAdmin", "a"]) expect(probe[name]).toBeUndefined();
}

const dangerous = ["__proto__", "constructor", "prototype"];

/**
 * A field path segment, weighted so that paths often start at a real field and walk through a
 * prototype name: the names that walk prototypes, our own field names, lookalikes of Object's own
 * members, and anything at all.
 */
const segment = fc.oneof(
  { arbitrary: fc.constantFrom(...dangerous), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      "token",
      "email",
      "identifier",
      "password",
      "audience",
      "allSessions",
      "all_sessions",
      "session_id",
      "sessionId",
    ),
    weight: 4,
  },
  { arbitrary: fc.constantFrom("toString", "valueOf", "hasOwnProperty", "__defineGetter__", "length", "0", "[]", "x"), weight: 1 },
  { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 6 }), weight: 1 },
);
const fieldPath = fc.array(segment, { minLength: 1, maxLength: 4 });
const value = fc.oneof(fc.constantFrom("1", "true", "", "x"), fc.string({ maxLength: 16 }));

/** How a path is written in a query string: dotted, bracketed (qs style), or %-encoded oddly. */
function queryName(parts: readonly string[], style: number): string {
  switch (style) {
    case 0:
      return encodeURIComponent(parts.join("."));
    case 1:
      return [parts[0] ?? "", ...parts.slice(1).map((p) => `[${p}]`)].map(encodeURIComponent).join("");
    default:
      // Every character %-encoded, so that `_` arrives as %5F.
      return [...Buffer.from(parts.join("."), "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  }
}

/** A JSON object nesting `leaf` under `parts`, written by hand so `__proto__` stays a key; keys sometimes \u-escaped. */
function jsonText(parts: readonly string[], leaf: string, escaped: boolean): string {
  const key = (name: string) =>
    escaped ? `"${[...name].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")}"` : JSON.stringify(name);
  return parts.reduceRight((inner, name) => `{${key(name)}:${inner}}`, JSON.stringify(leaf));
}

const gatewayQueryRoutes = [
  // The verification page: not a gateway route any more, but it reads a query too.
  ["GET", "/v1/auth/verify-email"],
  ["GET", "/v1/auth/me"],
  ["GET", "/v1/auth/sessions"],
  ["DELETE", "/v1/auth/sessions/abc"],
] as const;
const jsonRoutes = [
  ["POST", "/v1/auth/login"],
  ["POST", "/v1/auth/verify-email"],
  ["POST", "/v1/auth/validate-token"],
  ["POST", "/auth.v1.AuthService/ValidateToken"],
  ["POST", "/auth.v1.AuthService/VerifyEmail"],
  ["POST", "/auth/login"],
  ["POST", "/api/v1/auth/change-password"],
] as const;
const formRoutes = [
  ["POST", "/v1/auth/token"],
  ["POST", "/auth/token"],
  ["POST", "/api/v1/auth/login"],
] as const;

describe("hostile keys", () => {
  it("a query field path through __proto__ is refused with INVALID_ARGUMENT and pollutes nothing", async () => {
    const answer = await send("GET", "/v1/auth/me?token.__proto__.x=1");
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 3, details: [{ reason: "INVALID_REQUEST" }] });
    expectPrototypeUntouched();
    // The service still answers normally afterwards.
    expect((await send("GET", "/healthz")).status).toBe(200);
  });

  it.each(dangerous)("refuses %s as a JSON body key, also when \\u-escaped, on the gateway and Connect", async (name) => {
    for (const escaped of [false, true]) {
      for (const path of ["/v1/auth/login", "/auth.v1.AuthService/Login"]) {
        const answer = await send("POST", path, jsonText([name, "polluted"], "yes", escaped));
        expect(answer.status, `${path} ${name} escaped=${escaped}`).toBe(400);
        expect(answer.body).toContain("INVALID_REQUEST");
      }
    }
    expectPrototypeUntouched();
  });

  it("gRPC-Web bodies get Connect's checks: a hostile key in +json, or a malformed +proto message, is INVALID_REQUEST", async () => {
    const frame = (message: Buffer) => {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(message.length, 1);
      return Buffer.concat([header, message]);
    };
    const cases: [string, Buffer][] = [
      ["application/grpc-web+json", frame(Buffer.from('{"token":"x","__proto__":{"polluted":true}}'))],
      ["application/grpc-web+json", frame(Buffer.from('{"token":"x","nested":{"constructor":{"prototype":{"x":1}}}}'))],
      ["application/grpc-web+json", frame(Buffer.from("{not json"))],
      // A field 1 of length 127 with three bytes behind it: the message ends early.
      ["application/grpc-web+proto", frame(Buffer.from([0x0a, 0x7f, 0x61, 0x62, 0x63]))],
      ["application/grpc-web", frame(Buffer.from([0xff, 0xff, 0xff]))],
      // A frame whose length prefix claims more than the body holds.
      ["application/grpc-web+proto", Buffer.from([0, 0, 0, 0, 9, 0x0a])],
    ];
    for (const [contentType, body] of cases) {
      const response = await fetch(`${service.baseUrl}/auth.v1.AuthService/ValidateToken`, {
        method: "POST",
        headers: { "content-type": contentType, "x-grpc-web": "1" },
        body,
      });
      const trailers = Buffer.from(await response.arrayBuffer()).toString("latin1");
      const status = response.headers.get("grpc-status") ?? /grpc-status: ?(\d+)/.exec(trailers)?.[1];
      const details =
        response.headers.get("grpc-status-details-bin") ?? /grpc-status-details-bin: ?([A-Za-z0-9+/=]+)/.exec(trailers)?.[1] ?? "";
      const what = `${contentType} ${body.toString("latin1")}`;
      expect(status, what).toBe("3");
      expect(Buffer.from(details, "base64").toString("latin1"), what).toContain("INVALID_REQUEST");
    }
    expectPrototypeUntouched();
  });

  it("a permissions-like body nesting __proto__ under a real field is refused too", async () => {
    const answer = await send("POST", "/v1/auth/login", '{"identifier":"a@b.co","password":"x","nested":{"__proto__":{"isAdmin":true}}}');
    expect(answer.status).toBe(400);
    expectPrototypeUntouched();
  });

  it("property: arbitrary field paths in queries, JSON bodies and forms never pollute Object.prototype and never get a 5xx", async () => {
    const caseArbitrary = fc.oneof(
      fc.record({
        kind: fc.constant("query" as const),
        route: fc.constantFrom(...gatewayQueryRoutes),
        params: fc.array(fc.tuple(fieldPath, value, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant("json" as const),
        route: fc.constantFrom(...jsonRoutes),
        path: fieldPath,
        leaf: value,
        escaped: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("form" as const),
        route: fc.constantFrom(...formRoutes),
        params: fc.array(fc.tuple(fieldPath, value, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 3 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async (testCase) => {
        let answer: Answer;
        if (testCase.kind === "query") {
          const query = testCase.params.map(([parts, v, style]) => `${queryName(parts, style)}=${encodeURIComponent(v)}`).join("&");
          answer = await send(testCase.route[0], `${testCase.route[1]}?${query}`);
        } else if (testCase.kind === "json") {
          answer = await send(testCase.route[0], testCase.route[1], jsonText(testCase.path, testCase.leaf, testCase.escaped));
        } else {
          const form = testCase.params.map(([parts, v, style]) => `${queryName(parts, style)}=${encodeURIComponent(v)}`).join("&");
          answer = await send(testCase.route[0], testCase.route[1], form, "application/x-www-form-urlencoded");
        }
        if (answer.status >= 500) throw new Error(`answered ${answer.status}: ${answer.body.slice(0, 200)}`);
        expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
        expect(({} as Record<string, unknown>).x).toBeUndefined();
      }),
      { seed: 20261124, numRuns: 10_000, endOnFailure: true },
    );
    expectPrototypeUntouched();
  }, 240_000);
});
