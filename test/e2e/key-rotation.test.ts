/**
 * Key rotation across two service instances sharing one PostgreSQL and one Redis, driven by the
 * real CLI (`npm run keys -- rotate`), and checked from the outside: with jose's
 * createRemoteJWKSet pointed at the running server, as another team would verify our tokens.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, startTestApp, type TestApp, TestClock } from "../support/app.js";
import { createGrpcClient, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

async function eventually<T>(attempt: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("signing key rotation with two instances", () => {
  const clock = new TestClock();
  const env = {
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    JWT_PRIVATE_KEY: "",
    REDIS_KEY_PREFIX: `rot${randomBytes(3).toString("hex")}:`,
  };
  let databaseUrl: string;
  let a: TestApp;
  let b: TestApp;
  let clientA: TestClient;
  let clientB: TestClient;
  const email = `rotate.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  const cli = (args: string[], extra: Record<string, string> = {}) =>
    run("npm", ["run", "--silent", "keys", "--", ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, REDIS_URL: inject("redisUrl"), ...env, ...extra },
      timeout: 60_000,
    });
  const jwks = async (app: TestApp) =>
    ((await (await fetch(`${app.baseUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] }).keys;
  const login = async (client: TestClient) => {
    const result = await client.call("Login", { identifier: email, password });
    if (!result.ok) throw new Error(`login failed: ${result.code}`);
    return result.response.accessToken as string;
  };
  const kidOf = (token: string) => decodeProtectedHeader(token).kid;
  const active = async (client: TestClient, token: string) => {
    const result = await client.call("ValidateToken", { token });
    return result.ok ? result.response : undefined;
  };

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    a = await startTestApp({ name: "rotation-a", databaseUrl, clock, redisKeyPrefix: env.REDIS_KEY_PREFIX, env });
    b = await startTestApp({ name: "rotation-b", databaseUrl, clock, redisKeyPrefix: env.REDIS_KEY_PREFIX, env });
    clientA = createGrpcClient(a.grpcAddress);
    clientB = createGrpcClient(b.grpcAddress);
    await clientA.call("Register", { email, password });
  });
  afterAll(async () => {
    clientA?.close();
    clientB?.close();
    await a?.stop();
    await b?.stop();
  });

  it("both instances sign with the one key of the shared ring, and publish it", async () => {
    const [tokenA, tokenB] = [await login(clientA), await login(clientB)];
    expect(kidOf(tokenA)).toBe(kidOf(tokenB));
    expect((await jwks(a)).map((key) => key.kid)).toEqual([kidOf(tokenA)]);
    expect(await jwks(b)).toEqual(await jwks(a));
    const response = await fetch(`${a.baseUrl}/.well-known/jwks.json`);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    const discovery = await (await fetch(`${a.baseUrl}/.well-known/openid-configuration`)).json();
    expect(discovery).toMatchObject({ issuer: "https://auth.test", jwks_uri: `${a.config.publicUrl}/.well-known/jwks.json` });
  });

  it("a third-party verifier (jose createRemoteJWKSet) verifies tokens of either instance", async () => {
    const keys = createRemoteJWKSet(new URL(`${a.baseUrl}/.well-known/jwks.json`));
    for (const token of [await login(clientA), await login(clientB)]) {
      const { payload, protectedHeader } = await jwtVerify(token, keys, {
        issuer: "https://auth.test",
        audience: "api",
        typ: "at+jwt",
        algorithms: ["ES256"],
      });
      expect(protectedHeader.typ).toBe("at+jwt");
      expect(payload.email).toBe(email);
    }
  });

  // Filled by the rotation tests, checked once the clock has moved past every old token.
  let before = "";
  let oldKid: string | undefined;
  let lastEs256 = "";

  it("a rotation on the CLI is seen by both: old tokens keep validating, new ones carry the new kid, the JWKS lists both", async () => {
    before = await login(clientA);
    oldKid = kidOf(before);
    const { stdout } = await cli(["rotate"]);
    expect(stdout).toMatch(/new signing key \S+ \(ES256\) is active; retired: /);
    expect(stdout).toContain("told 2 running instance(s)");
    const newKid = /new signing key (\S+)/.exec(stdout)?.[1];
    expect(newKid).not.toBe(oldKid);

    for (const client of [clientA, clientB]) {
      const token = await eventually(async () => {
        const t = await login(client);
        return kidOf(t) === newKid ? t : undefined;
      });
      expect((await active(clientA, token))?.active).toBe(true);
      expect((await active(clientB, token))?.active).toBe(true);
    }
    expect((await active(clientA, before))?.active).toBe(true);
    expect((await active(clientB, before))?.active).toBe(true);
    for (const app of [a, b]) expect((await jwks(app)).map((key) => key.kid)).toEqual([newKid, oldKid]);

    // Another team's verifier that cached the old key set refetches on the unknown kid.
    const keys = createRemoteJWKSet(new URL(`${b.baseUrl}/.well-known/jwks.json`), { cooldownDuration: 0 });
    await jwtVerify(before, keys, { issuer: "https://auth.test", audience: "api" });
    await jwtVerify(await login(clientB), keys, { issuer: "https://auth.test", audience: "api" });

    const { stdout: listed } = await cli(["list"]);
    expect(listed).toContain(`${newKid}  ES256  active (signs)`);
    expect(listed).toContain(`${oldKid}  ES256  retired (still verifies)`);
  });

  it("moves to another algorithm by rotation, with both algorithms verifying during the overlap", async () => {
    const es256 = await login(clientA);
    lastEs256 = es256;
    const { stdout } = await cli(["rotate"], { JWT_ALGORITHM: "EdDSA" });
    expect(stdout).toContain("(EdDSA) is active");
    const ed25519 = await eventually(async () => {
      const t = await login(clientB);
      return decodeProtectedHeader(t).alg === "EdDSA" ? t : undefined;
    });
    for (const client of [clientA, clientB]) {
      expect((await active(client, es256))?.active).toBe(true);
      expect((await active(client, ed25519))?.active).toBe(true);
    }
    // An ES256 token re-labelled EdDSA (or the reverse) is refused: a kid fixes its algorithm.
    const [header, payload, signature] = es256.split(".") as [string, string, string];
    const relabelled = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header, "base64url").toString()), alg: "EdDSA" })).toString("base64url")}.${payload}.${signature}`;
    expect(await active(clientA, relabelled)).toMatchObject({ active: false, reason: "INACTIVE_REASON_ALGORITHM_NOT_ALLOWED" });
  });

  it("drops retired keys from the JWKS, and their tokens from validation, once those tokens have expired", async () => {
    const current = (await jwks(a)).find((key) => key.alg === "EdDSA")?.kid;
    clock.advance(a.config.policy.accessTokenTtlMs + a.config.jwt.clockSkewMs + 1000);
    for (const app of [a, b]) expect((await jwks(app)).map((key) => key.kid)).toEqual([current]);
    for (const old of [before, lastEs256]) expect((await active(clientB, old))?.active).toBe(false);
    expect((await active(clientB, await login(clientA)))?.active).toBe(true);
    expect(oldKid).toBeDefined();
  });
});
