/**
 * Where configuration comes from besides the process environment: `.env` (or ENV_FILE) under the
 * real variables, and NAME_FILE for any variable (Docker and Kubernetes secrets). Real files in a
 * temporary folder; the service started this way is tested in test/e2e/startup.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, readEnvironment } from "../../src/config.js";

const dir = mkdtempSync(join(tmpdir(), "auth-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const problemsOf = (load: () => unknown): string[] => {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

describe("readEnvironment", () => {
  it("reads .env in the working directory, and a real variable wins over it, even an empty one", () => {
    const cwd = mkdtempSync(join(dir, "cwd-"));
    writeFileSync(
      join(cwd, ".env"),
      '# a comment\nHTTP_PORT=9090\nGRPC_PORT=9091\nLOG_LEVEL=debug\nMAIL_FROM="Auth <a@b.c>"\nexport BCRYPT_COST=5\n',
    );
    const env = readEnvironment({ GRPC_PORT: "7000", LOG_LEVEL: "" }, { cwd });
    expect(env.HTTP_PORT).toBe("9090");
    expect(env.GRPC_PORT).toBe("7000");
    expect(env.LOG_LEVEL).toBe("");
    expect(env.MAIL_FROM).toBe("Auth <a@b.c>");
    const config = loadConfig(env);
    expect([config.httpPort, config.grpcPort, config.logLevel, config.bcryptCost]).toEqual([9090, 7000, "info", 5]);
  });

  it("runs without a .env, but refuses an ENV_FILE it cannot read, naming it", () => {
    const cwd = mkdtempSync(join(dir, "empty-"));
    expect(readEnvironment({ HTTP_PORT: "1" }, { cwd })).toEqual({ HTTP_PORT: "1" });
    expect(problemsOf(() => readEnvironment({ ENV_FILE: "missing.env" }, { cwd }))[0]).toMatch(/^ENV_FILE=missing.env: cannot be read/);
  });

  it("reads the file ENV_FILE names instead of .env, relative to the working directory", () => {
    const cwd = mkdtempSync(join(dir, "named-"));
    writeFileSync(join(cwd, ".env"), "HTTP_PORT=1111\n");
    writeFileSync(join(cwd, "prod.env"), "HTTP_PORT=2222\n");
    expect(readEnvironment({ ENV_FILE: "prod.env" }, { cwd }).HTTP_PORT).toBe("2222");
  });

  it("takes a __proto__ line in the file as data, not as a prototype", () => {
    const cwd = mkdtempSync(join(dir, "proto-"));
    writeFileSync(join(cwd, ".env"), "__proto__=polluted\nconstructor=x\nHTTP_PORT=3333\n");
    const env = readEnvironment({}, { cwd });
    expect(env.HTTP_PORT).toBe("3333");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
  });
});

describe("NAME_FILE", () => {
  const kek = Buffer.alloc(32, 9).toString("base64");
  const shared = { PUBLIC_URL: "https://auth.example.com", SMTP_URL: "smtp://mail:25" };

  it("reads every secret from a file, dropping one trailing newline", () => {
    const config = loadConfig({
      ...shared,
      DATABASE_URL_FILE: file("database-url", "postgres://auth:pw@db/auth\n"),
      REDIS_URL_FILE: file("redis-url", "redis://:pw@redis:6379\n"),
      KEY_ENCRYPTION_KEY_FILE: file("kek", `${kek}\n`),
      SMTP_URL: "",
      SMTP_URL_FILE: file("smtp-url", "smtp://user:pw@mail:587\n"),
      ADMIN_PASSWORD_FILE: file("admin-password", "  spaces are mine  \n"),
    });
    expect(config.databaseUrl).toBe("postgres://auth:pw@db/auth");
    expect(config.redis.topology).toEqual({ kind: "standalone", url: "redis://:pw@redis:6379" });
    expect(config.jwt.keyEncryptionKey).toBe(kek);
    expect(config.smtpUrl).toBe("smtp://user:pw@mail:587");
    expect(config.adminPassword).toBe("  spaces are mine  ");
  });

  it("reads JWT_SECRET and JWT_PRIVATE_KEY from files", () => {
    const secret = "s".repeat(40);
    expect(loadConfig({ JWT_ALGORITHM: "HS256", JWT_SECRET_FILE: file("jwt-secret", `${secret}\n`) }).jwt.secret).toBe(secret);
    expect(loadConfig({ JWT_PRIVATE_KEY_FILE: file("key.pem", "PEM TEXT\n") }).jwt.privateKey).toBe("PEM TEXT");
  });

  it("refuses NAME and NAME_FILE together, naming both and echoing neither value", () => {
    const problems = problemsOf(() =>
      loadConfig({
        JWT_ALGORITHM: "HS256",
        JWT_SECRET: "inline-secret-value-0123456789abcdef",
        JWT_SECRET_FILE: file("s2", "file-secret"),
      }),
    );
    expect(problems).toContain("JWT_SECRET and JWT_SECRET_FILE: set only one of them");
    expect(problems.join("\n")).not.toMatch(/inline-secret-value|file-secret/);
    expect(problemsOf(() => loadConfig({ ADMIN_PASSWORD: "pw", ADMIN_PASSWORD_FILE: file("a2", "pw") }))).toEqual([
      "ADMIN_PASSWORD and ADMIN_PASSWORD_FILE: set only one of them",
    ]);
  });

  it("names a file it cannot read once, and refuses one larger than 1 MiB", () => {
    const problems = problemsOf(() => loadConfig({ JWT_ISSUER_FILE: join(dir, "nope") }));
    expect(problems.filter((p) => p.startsWith("JWT_ISSUER_FILE="))).toHaveLength(1);
    expect(problems[0]).toMatch(/^JWT_ISSUER_FILE=.*nope: cannot be read/);
    const big = file("big", "x".repeat(1024 * 1024 + 1));
    expect(problemsOf(() => loadConfig({ JWT_SECRET_FILE: big, JWT_ALGORITHM: "HS256" }))[0]).toMatch(/larger than 1048576 bytes/);
  });

  it("checks a value from a file like any other, without echoing a URL", () => {
    const problems = problemsOf(() => loadConfig({ REDIS_URL_FILE: file("bad-redis", "redis://:s3cret@[bad\n") }));
    expect(problems[0]).toMatch(/^REDIS_URL: not a valid URL/);
    expect(problems.join("\n")).not.toContain("s3cret");
  });
});
