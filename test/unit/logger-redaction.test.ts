/**
 * The log redaction of src/logger.ts, through a real pino logger writing into a captured
 * destination: which fields are censored, that everything else is written as pino writes it, that
 * the caller's objects are left alone, and that hostile values neither throw nor leak.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createLogger, redactSecrets, serializeError } from "../../src/logger.js";

const CENSOR = "[redacted]";

/** Today's list, written out: a key dropped from the logger's list fails here. */
const secretKeys = [
  "authorization",
  "password",
  "currentPassword",
  "newPassword",
  "current_password",
  "new_password",
  "token",
  "accessToken",
  "refreshToken",
  "access_token",
  "refresh_token",
  "secret",
  "privateKey",
  "mfaTicket",
  "mfa_ticket",
  "mfa_token",
  "otp",
  "otpauthUri",
  "recoveryCode",
  "recovery_code",
  "recoveryCodes",
  "recovery_codes",
];

/** A logger of createLogger's writing into memory, and its lines as written and as parsed. */
function capture() {
  const written: string[] = [];
  const logger = createLogger("info", { write: (line: string) => written.push(line) });
  const lines = () => written.map((line) => JSON.parse(line) as Record<string, any>);
  return { logger, written, lines };
}

/** Every field whose value is one of the secrets each test makes from a key: `s3cret-<key>`. */
function leaks(written: string[]): string[] {
  return written.flatMap((line) => line.match(/s3cret-[\w-]*/g) ?? []);
}

const secretsOf = (keys: readonly string[]) => Object.fromEntries(keys.map((key) => [key, `s3cret-${key}`]));

describe("log redaction", () => {
  it("censors every secret key at the top level, and leaves the other fields as they are", () => {
    const { logger, written, lines } = capture();
    logger.info({ requestId: "r-1", ...secretsOf(secretKeys), latencyMs: 1.5, code: "OK" }, "call ok");
    const [line] = lines();
    for (const key of secretKeys) expect(line?.[key], key).toBe(CENSOR);
    expect(line).toMatchObject({ requestId: "r-1", latencyMs: 1.5, code: "OK", msg: "call ok", service: "auth-service" });
    expect(leaks(written)).toEqual([]);
  });

  it("censors every secret key one level down, in an object and in each object of an array", () => {
    const { logger, written, lines } = capture();
    logger.info({ request: { user: "ada", ...secretsOf(secretKeys) }, items: [{ ...secretsOf(secretKeys), n: 1 }, "plain", 7, null] });
    const [line] = lines();
    for (const key of secretKeys) {
      expect(line?.request[key], key).toBe(CENSOR);
      expect(line?.items[0][key], key).toBe(CENSOR);
    }
    expect(line?.request.user).toBe("ada");
    expect(line?.items).toEqual([{ ...Object.fromEntries(secretKeys.map((key) => [key, CENSOR])), n: 1 }, "plain", 7, null]);
    expect(leaks(written)).toEqual([]);
  });

  it("censors an authorization header two and three levels down, whatever its case", () => {
    const { logger, written, lines } = capture();
    logger.info({
      headers: { authorization: "s3cret-a", Cookie: "s3cret-c", "content-type": "application/json" },
      req: { method: "POST", headers: { authorization: "s3cret-b", "Proxy-Authorization": "s3cret-p", "x-request-id": "r-2" } },
    });
    expect(lines()[0]).toMatchObject({
      headers: { authorization: CENSOR, Cookie: CENSOR, "content-type": "application/json" },
      req: { method: "POST", headers: { authorization: CENSOR, "Proxy-Authorization": CENSOR, "x-request-id": "r-2" } },
    });
    expect(leaks(written)).toEqual([]);
  });

  it("censors a child logger's bindings and the base", () => {
    const { logger, written, lines } = capture();
    const child = logger.child({ token: "s3cret-t", client: { password: "s3cret-p", name: "web" }, tenant: "acme" });
    child.info("bound");
    const grandchild = child.child({ refreshToken: "s3cret-r" });
    grandchild.setBindings({ otp: "s3cret-o" });
    grandchild.warn("bound twice");
    expect(lines()[0]).toMatchObject({ token: CENSOR, client: { password: CENSOR, name: "web" }, tenant: "acme", service: "auth-service" });
    expect(lines()[1]).toMatchObject({ token: CENSOR, refreshToken: CENSOR, otp: CENSOR, msg: "bound twice" });
    expect(leaks(written)).toEqual([]);
  });

  it("never changes the caller's objects, and hands back the same object when there is nothing to censor", () => {
    const fields = { a: 1, nested: { password: "s3cret-p", keep: true }, list: [{ token: "s3cret-t" }], headers: { authorization: "x" } };
    const before = structuredClone(fields);
    const { logger, written } = capture();
    logger.info(fields);
    expect(fields).toEqual(before);
    expect(leaks(written)).toEqual([]);
    const plain = { rpc: "Login", code: "OK", nested: { user: "ada" }, list: [{ n: 1 }], err: new Error("boom") };
    expect(redactSecrets(plain)).toBe(plain);
    const censored = redactSecrets(fields);
    expect(censored).not.toBe(fields);
    expect(censored.a).toBe(1);
    expect(censored.nested).not.toBe(fields.nested);
    expect(censored.headers).not.toBe(fields.headers);
  });

  it("writes a line with nothing to censor byte for byte as pino alone does, errors serialized", () => {
    const { logger, written } = capture();
    const plain = pino(
      {
        base: { service: "auth-service", pid: process.pid },
        timestamp: false,
        serializers: { err: (error: unknown) => serializeError(error) },
        formatters: { level: (label) => ({ level: label }) },
      },
      { write: (line: string) => written.push(`pino:${line}`) },
    );
    const error = Object.assign(new Error("boom", { cause: new Error("root") }), { code: "E_X", token: "s3cret-e" });
    const fields = { transport: "grpc", rpc: "Login", requestId: "r-1", tenant: undefined, code: "INTERNAL", latencyMs: 3, err: error };
    logger.error(fields, "call failed");
    plain.error(fields, "call failed");
    const [ours, theirs] = written;
    expect(ours?.replace(/,"time":"[^"]*"/, "")).toBe(theirs?.replace(/^pino:/, ""));
    expect(JSON.parse(ours ?? "").err).toMatchObject({ type: "Error", message: "boom", code: "E_X", cause: { message: "root" } });
    expect(JSON.parse(ours ?? "").err.stack).toContain("boom");
    expect(leaks(written)).toEqual([]);
  });
});

describe("log redaction of hostile values", () => {
  it("censors objects without a prototype and keeps a JSON `__proto__` key a plain field", () => {
    const { logger, written, lines } = capture();
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { token: "s3cret-t", keep: 1 });
    const parsed = JSON.parse('{"__proto__":{"password":"s3cret-p","isAdmin":true},"a":{"__proto__":{"x":1},"secret":"s3cret-s"}}');
    logger.info({ bare });
    logger.info(parsed);
    expect(lines()[0]).toMatchObject({ bare: { token: CENSOR, keep: 1 } });
    const ownProto = (value: unknown) => Object.getOwnPropertyDescriptor(value, "__proto__")?.value;
    expect(lines()[1]?.a).toMatchObject({ secret: CENSOR });
    expect(ownProto(lines()[1]?.a)).toEqual({ x: 1 });
    expect(ownProto(lines()[1])).toEqual({ password: CENSOR, isAdmin: true });
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(leaks(written)).toEqual([]);
  });

  it("censors a getter without calling it, and fails closed when a value cannot be read", () => {
    const { logger, written, lines } = capture();
    const throwing = {
      get token(): string {
        throw new Error("s3cret-getter");
      },
      keep: 1,
    };
    logger.info({ nested: throwing, requestId: "r-1" });
    expect(lines()[0]).toMatchObject({ nested: { token: CENSOR, keep: 1 }, requestId: "r-1" });
    const top = Object.defineProperty({ requestId: "r-2" }, "boom", { enumerable: true, get: () => ({ password: "s3cret-p" }) });
    Object.defineProperty(top, "bad", {
      enumerable: true,
      get: () => {
        throw new Error("unreadable");
      },
    });
    expect(() => logger.info(top, "hostile")).not.toThrow();
    const { proxy, revoke } = Proxy.revocable({ password: "s3cret-p" }, {});
    revoke();
    expect(() => logger.info({ proxy }, "revoked")).not.toThrow();
    expect(lines().slice(1)).toMatchObject([
      { redactionFailed: true, msg: "hostile" },
      { redactionFailed: true, msg: "revoked" },
    ]);
    expect(leaks(written)).toEqual([]);
  });

  it("handles a cyclic object and a very wide one", () => {
    const { logger, written, lines } = capture();
    const cyclic: Record<string, unknown> = { name: "loop", token: "s3cret-t" };
    cyclic.self = cyclic;
    const wide: Record<string, unknown> = Object.fromEntries(Array.from({ length: 100_000 }, (_, index) => [`k${index}`, index]));
    wide.password = "s3cret-p";
    logger.info({ cyclic, wide, list: Array.from({ length: 10_000 }, () => ({ otp: "s3cret-o" })) });
    const [line] = lines();
    expect(line?.cyclic).toMatchObject({ name: "loop", token: CENSOR });
    expect(line?.wide.password).toBe(CENSOR);
    expect(line?.wide.k99999).toBe(99_999);
    expect(line?.list).toHaveLength(10_000);
    // Only the depth-3 copy through the cycle, beyond the redacted depth as with pino's paths before.
    expect(leaks(written).filter((secret) => secret !== "s3cret-t")).toEqual([]);
    expect(cyclic.token).toBe("s3cret-t");
  });
});
