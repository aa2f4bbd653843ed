import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration } from "../../src/config.js";

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["10s", 10_000],
    ["15m", 900_000],
    ["24h", 86_400_000],
    ["7d", 604_800_000],
  ])("reads %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["15", "15 m", "1w", "-5s", "1.5h", ""])("refuses %j", (text) => expect(parseDuration(text)).toBeUndefined());
});

describe("loadConfig", () => {
  it("runs embedded on its defaults with an empty environment", () => {
    const config = loadConfig({});
    expect(config.embedded).toEqual({ database: true, redis: true });
    expect(config.grpcPort).toBe(50051);
    expect(config.httpPort).toBe(8080);
    expect(config.jwt.algorithm).toBe("ES256");
    expect(config.policy.accessTokenTtlMs).toBe(15 * 60_000);
    expect(config.policy.refreshTokenTtlMs).toBe(7 * 86_400_000);
    expect(config.policy.sessionMaxLifetimeMs).toBe(30 * 86_400_000);
    expect(config.policy.refreshReuseGraceMs).toBe(10_000);
    expect(config.bcryptCost).toBe(12);
    expect(config.policy.passwordMinLength).toBe(8);
    expect(config.jwt.issuer).toBe("http://localhost:8080");
    expect(config.policy.defaultTenant).toBe("default");
  });

  it("is frozen", () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.jwt)).toBe(true);
    expect(Object.isFrozen(config.policy)).toBe(true);
  });

  it("names every bad variable at once", () => {
    const problems = problemsOf({
      GRPC_PORT: "70000",
      ACCESS_TOKEN_TTL: "15",
      BCRYPT_COST: "3",
      REQUIRE_VERIFIED_EMAIL: "maybe",
      LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://x",
    });
    const named = problems.map((p) => p.split(/[=:]/, 1)[0]);
    expect(named).toEqual(
      expect.arrayContaining(["GRPC_PORT", "ACCESS_TOKEN_TTL", "BCRYPT_COST", "REQUIRE_VERIFIED_EMAIL", "LOG_LEVEL", "DATABASE_URL"]),
    );
  });

  it("never echoes a URL that fails to parse (it may hold a password)", () => {
    const problems = problemsOf({ REDIS_URL: "redis://:s3cret-pass@[bad" });
    expect(problems.join("\n")).not.toContain("s3cret-pass");
    expect(problems[0]).toMatch(/^REDIS_URL/);
  });

  it("refuses a REDIS_KEY_PREFIX with a brace, which would take over the sessions' hash tag", () => {
    expect(problemsOf({ REDIS_KEY_PREFIX: "auth{x}:" })).toEqual(["REDIS_KEY_PREFIX=auth{x}:: must not contain '{' or '}'"]);
    expect(problemsOf({ REDIS_KEY_PREFIX: "auth:}" })).toHaveLength(1);
    expect(loadConfig({ REDIS_KEY_PREFIX: "tenant-a:auth:" }).redisKeyPrefix).toBe("tenant-a:auth:");
  });

  it("requires a JWT_SECRET of at least 32 bytes for HS256", () => {
    expect(problemsOf({ JWT_ALGORITHM: "HS256" })[0]).toMatch(/^JWT_SECRET: required/);
    expect(problemsOf({ JWT_ALGORITHM: "HS256", JWT_SECRET: "short" })[0]).toMatch(/at least 32 bytes/);
    expect(loadConfig({ JWT_ALGORITHM: "HS256", JWT_SECRET: "x".repeat(32) }).jwt.secret).toHaveLength(32);
  });

  it("refuses a JWT_SECRET that would be silently ignored", () => {
    expect(problemsOf({ JWT_SECRET: "x".repeat(40) })[0]).toMatch(/^JWT_SECRET: set, but JWT_ALGORITHM is not HS256/);
  });

  it("refuses an algorithm it does not support, and accepts the four it does in any case", () => {
    expect(problemsOf({ JWT_ALGORITHM: "none" })[0]).toMatch(/^JWT_ALGORITHM=none: supported values are ES256, EdDSA, RS256, HS256/);
    expect(loadConfig({ JWT_ALGORITHM: "eddsa" }).jwt.algorithm).toBe("EdDSA");
    expect(loadConfig({ JWT_ALGORITHM: "rs256" }).jwt.algorithm).toBe("RS256");
  });

  it("uses the key ring unless a key is pinned", () => {
    expect(loadConfig({}).jwt.keySource).toBe("ring");
    expect(loadConfig({ JWT_PRIVATE_KEY: "PEM" }).jwt.keySource).toBe("configured");
    expect(loadConfig({ JWT_ALGORITHM: "HS256", JWT_SECRET: "x".repeat(32) }).jwt.keySource).toBe("configured");
  });

  it("requires a key-encryption key or a pinned key when the database is shared, except for commands that do not sign", () => {
    const env = { DATABASE_URL: "postgres://localhost/auth", PUBLIC_URL: "https://auth.example.com", SMTP_URL: "smtp://mail:25" };
    expect(problemsOf(env)[0]).toMatch(/^KEY_ENCRYPTION_KEY or JWT_PRIVATE_KEY\(_FILE\): one is required/);
    expect(loadConfig(env, { signingKeyRequired: false }).databaseUrl).toBe(env.DATABASE_URL);
    const kek = Buffer.alloc(32, 7).toString("base64");
    expect(loadConfig({ ...env, KEY_ENCRYPTION_KEY: kek }).jwt.keyEncryptionKey).toBe(kek);
  });

  it("checks the key-encryption key, and keeps it beside a pinned key for second-factor secrets", () => {
    expect(problemsOf({ KEY_ENCRYPTION_KEY: "too-short" })[0]).toMatch(/^KEY_ENCRYPTION_KEY: expected 32 bytes in base64/);
    expect(problemsOf({ KEY_ENCRYPTION_KEY: Buffer.alloc(31).toString("base64") })[0]).toMatch(/^KEY_ENCRYPTION_KEY/);
    const kek = Buffer.alloc(32, 9).toString("base64");
    const pinned = loadConfig({ KEY_ENCRYPTION_KEY: kek, JWT_PRIVATE_KEY: "PEM" });
    expect(pinned.jwt).toMatchObject({ keySource: "configured", keyEncryptionKey: kek });
  });

  it("reads the MFA settings, with the seed's defaults for the window", () => {
    expect(loadConfig({}).policy).toMatchObject({
      mfaIssuer: "Authward",
      mfaValidWindow: 1,
      mfaTicketTtlMs: 300_000,
      mfaEnrollmentTtlMs: 900_000,
    });
    const config = loadConfig({ MFA_ISSUER_NAME: "ONI_Justicia", MFA_VALID_WINDOW: "2", MFA_TICKET_TTL: "2m", MFA_ENROLLMENT_TTL: "1h" });
    expect(config.policy).toMatchObject({
      mfaIssuer: "ONI_Justicia",
      mfaValidWindow: 2,
      mfaTicketTtlMs: 120_000,
      mfaEnrollmentTtlMs: 3_600_000,
    });
    expect(problemsOf({ MFA_VALID_WINDOW: "11" })[0]).toMatch(/^MFA_VALID_WINDOW/);
    expect(problemsOf({ MFA_ISSUER_NAME: "Acme: Staging" })[0]).toMatch(/^MFA_ISSUER_NAME: .*colon/);
    expect(problemsOf({ MFA_ISSUER_NAME: "Acme\u0000" })[0]).toMatch(/^MFA_ISSUER_NAME/);
    expect(problemsOf({ MFA_TICKET_TTL: "1s" })[0]).toMatch(/^MFA_TICKET_TTL/);
  });

  it("reads the key from JWT_PRIVATE_KEY_FILE and names the file it cannot read", () => {
    const config = loadConfig({ JWT_PRIVATE_KEY_FILE: "/keys/k.pem" }, { readFile: () => "PEM TEXT" });
    expect(config.jwt.privateKey).toBe("PEM TEXT");
    const problems = (() => {
      try {
        loadConfig(
          { JWT_PRIVATE_KEY_FILE: "/nope.pem" },
          {
            readFile: () => {
              throw new Error("ENOENT");
            },
          },
        );
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    })();
    expect(problems[0]).toMatch(/^JWT_PRIVATE_KEY_FILE=\/nope.pem: cannot be read/);
  });

  it("keeps the session lifetimes consistent", () => {
    expect(problemsOf({ REFRESH_TOKEN_TTL: "40d" })).toContain("REFRESH_TOKEN_TTL: must not exceed SESSION_MAX_LIFETIME");
    expect(problemsOf({ REFRESH_REUSE_GRACE: "8d" })).toContain("REFRESH_REUSE_GRACE: must be shorter than REFRESH_TOKEN_TTL");
  });

  describe("with DATABASE_URL set", () => {
    // Everything else a shared database needs, so that each test sees only its own rule.
    const shared = { DATABASE_URL: "postgres://localhost/auth", JWT_PRIVATE_KEY: "PEM" };

    it("refuses to start without PUBLIC_URL or JWT_ISSUER, naming both and why", () => {
      const problems = problemsOf({ ...shared, SMTP_URL: "smtp://mail:25" });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^PUBLIC_URL \(or JWT_ISSUER\): one is required when DATABASE_URL is set/);
      expect(problems[0]).toContain("depends on HTTP_PORT");
    });

    it("gives two instances on different ports the same issuer", () => {
      const base = { ...shared, SMTP_URL: "smtp://mail:25", PUBLIC_URL: "https://auth.example.com/" };
      const a = loadConfig({ ...base, HTTP_PORT: "8080" });
      const b = loadConfig({ ...base, HTTP_PORT: "9090" });
      expect(a.jwt.issuer).toBe("https://auth.example.com");
      expect(b.jwt.issuer).toBe(a.jwt.issuer);
      expect(b.policy.verifyEmailUrl).toBe("https://auth.example.com/v1/auth/verify-email");
    });

    it("accepts JWT_ISSUER alone when it is an http(s) URL, and builds links from it", () => {
      const config = loadConfig({ ...shared, SMTP_URL: "smtp://mail:25", JWT_ISSUER: "https://id.example.com/" });
      expect(config.jwt.issuer).toBe("https://id.example.com/");
      expect(config.publicUrl).toBe("https://id.example.com");
      expect(config.policy.resetPasswordUrl).toBe("https://id.example.com/reset-password");
    });

    it("requires PUBLIC_URL beside a JWT_ISSUER that is not an http(s) URL (links need a base)", () => {
      const problems = problemsOf({ ...shared, SMTP_URL: "smtp://mail:25", JWT_ISSUER: "urn:example:auth" });
      expect(problems).toEqual([
        expect.stringMatching(/^PUBLIC_URL: required when DATABASE_URL is set and JWT_ISSUER is not an http\(s\) URL/),
      ]);
      const config = loadConfig({ ...shared, SMTP_URL: "smtp://mail:25", JWT_ISSUER: "urn:example:auth", PUBLIC_URL: "https://a.example" });
      expect(config.jwt.issuer).toBe("urn:example:auth");
    });

    it("refuses to start without SMTP_URL or MAIL_OUTBOX_DIR, naming both", () => {
      const problems = problemsOf({ ...shared, PUBLIC_URL: "https://auth.example.com" });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^SMTP_URL \(or MAIL_OUTBOX_DIR\): one is required when DATABASE_URL is set/);
    });

    it("writes mail to MAIL_OUTBOX_DIR when it is set on purpose", () => {
      const config = loadConfig({ ...shared, PUBLIC_URL: "https://auth.example.com", MAIL_OUTBOX_DIR: "/var/spool/auth-mail" });
      expect(config.smtpUrl).toBeUndefined();
      expect(config.mailOutboxDir).toBe("/var/spool/auth-mail");
    });

    it("refuses SMTP_URL and MAIL_OUTBOX_DIR together", () => {
      expect(problemsOf({ ...shared, PUBLIC_URL: "https://a.example", SMTP_URL: "smtp://mail:25", MAIL_OUTBOX_DIR: "/tmp/x" })).toEqual([
        expect.stringMatching(/^SMTP_URL and MAIL_OUTBOX_DIR: set only one of them/),
      ]);
    });

    it("reports both missing choices at once", () => {
      const named = problemsOf(shared).map((p) => p.split(":", 1)[0]);
      expect(named).toEqual(["PUBLIC_URL (or JWT_ISSUER)", "SMTP_URL (or MAIL_OUTBOX_DIR)"]);
    });

    it("requires neither for commands that serve no calls (the CLI)", () => {
      const config = loadConfig(shared, { serving: false });
      expect(config.databaseUrl).toBe(shared.DATABASE_URL);
    });
  });

  describe("in embedded mode (no DATABASE_URL)", () => {
    it("keeps the default issuer and writes mail to DATA_DIR/outbox", () => {
      const config = loadConfig({ HTTP_PORT: "9000", DATA_DIR: "/srv/auth" });
      expect(config.jwt.issuer).toBe("http://localhost:9000");
      expect(config.smtpUrl).toBeUndefined();
      expect(config.mailOutboxDir).toBe("/srv/auth/outbox");
    });

    it("takes MAIL_OUTBOX_DIR when it is set", () => {
      expect(loadConfig({ MAIL_OUTBOX_DIR: "/tmp/mail" }).mailOutboxDir).toBe("/tmp/mail");
    });

    it("keeps the embedded default also with REDIS_URL alone (the database is what is embedded)", () => {
      expect(loadConfig({ REDIS_URL: "redis://localhost:6379" }).jwt.issuer).toBe("http://localhost:8080");
    });
  });

  it("reads WORKER_START_TIMEOUT, 2 minutes by default", () => {
    expect(loadConfig({}).workerStartTimeoutMs).toBe(120_000);
    expect(loadConfig({ WORKER_START_TIMEOUT: "5m" }).workerStartTimeoutMs).toBe(300_000);
    expect(problemsOf({ WORKER_START_TIMEOUT: "10" })[0]).toMatch(/^WORKER_START_TIMEOUT=10/);
  });

  it("derives the issuer from PUBLIC_URL unless JWT_ISSUER is set", () => {
    expect(loadConfig({ PUBLIC_URL: "https://auth.example.com" }).jwt.issuer).toBe("https://auth.example.com");
    expect(loadConfig({ PUBLIC_URL: "https://auth.example.com", JWT_ISSUER: "urn:auth" }).jwt.issuer).toBe("urn:auth");
  });

  it("has safe abuse limits by default, each configurable, and refuses a lock cap below the first lock", () => {
    expect(loadConfig({}).abuse).toEqual({
      login: {
        maxFailuresPerAccountAddress: 5,
        failureWindowMs: 3_600_000,
        lockDurationMs: 60_000,
        lockMaxDurationMs: 3_600_000,
        maxFailuresPerAccount: 20,
        accountWindowMs: 900_000,
        maxFailuresPerAddress: 100,
        addressWindowMs: 3_600_000,
      },
      mail: { perAddressPerHour: 5, perClientPerHour: 20, perOwnerPerHour: 5 },
      secondFactor: { maxAttempts: 10, windowMs: 900_000 },
      ownerAddressTtlMs: 30 * 86_400_000,
    });
    expect(loadConfig({}).clientAddress).toEqual({ trustedProxies: [], header: "x-forwarded-for" });
    expect(loadConfig({ LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "3", LOGIN_LOCK_DURATION: "2s" }).abuse.login).toMatchObject({
      maxFailuresPerAccountAddress: 3,
      lockDurationMs: 2000,
    });
    // Lifted for load tests and benchmarks (one account signed in from one address thousands of times).
    expect(loadConfig({ LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000000" }).abuse.login.maxFailuresPerAccountAddress).toBe(1_000_000);
    expect(() => loadConfig({ LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "0" })).toThrow(/LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS/);
    expect(() => loadConfig({ LOGIN_LOCK_DURATION: "2h" })).toThrow(/LOGIN_LOCK_MAX_DURATION/);
    expect(() => loadConfig({ LOGIN_FAILURE_WINDOW: "10ms" })).toThrow(/LOGIN_FAILURE_WINDOW/);
    expect(loadConfig({ TRUSTED_PROXIES: "10.0.0.0/8, ::1" }).clientAddress.trustedProxies).toEqual([
      { address: "10.0.0.0", prefix: 8, family: "ipv4" },
      { address: "::1", prefix: 128, family: "ipv6" },
    ]);
  });
});

describe("the edge's configuration", () => {
  it("bounds slow clients and streams by default, and checks the timeouts well within them", () => {
    const { limits, tls, cors, metrics } = loadConfig({});
    expect(limits).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      checkIntervalMs: 1000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 10_000,
      grpcMaxConcurrentStreams: 100,
    });
    expect(loadConfig({ HEADERS_TIMEOUT: "1s", REQUEST_TIMEOUT: "2s" }).limits.checkIntervalMs).toBe(100);
    expect(tls).toBeUndefined();
    expect(cors.allowedOrigins).toEqual([]);
    expect(metrics).toEqual({ host: "127.0.0.1", port: 9464 });
  });

  it("refuses a headers timeout longer than the request timeout", () => {
    expect(problemsOf({ HEADERS_TIMEOUT: "40s" })).toEqual([expect.stringContaining("HEADERS_TIMEOUT")]);
  });

  it("wants both TLS files or neither", () => {
    expect(problemsOf({ TLS_CERT_FILE: "/tls/cert.pem" })).toEqual([expect.stringContaining("TLS_CERT_FILE and TLS_KEY_FILE")]);
    expect(loadConfig({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" }).tls).toEqual({
      certFile: "/c.pem",
      keyFile: "/k.pem",
      reloadIntervalMs: 3_600_000,
    });
  });

  it("takes exact origins only: never *, a path, another scheme or a default port spelled out", () => {
    expect(loadConfig({ CORS_ALLOWED_ORIGINS: "https://app.example.com, http://localhost:3000 ,https://app.example.com" }).cors).toEqual({
      allowedOrigins: ["https://app.example.com", "http://localhost:3000"],
    });
    for (const bad of ["*", "https://app.example.com/path", "ftp://x.example", "https://app.example.com:443", "app.example.com", "null"]) {
      expect(problemsOf({ CORS_ALLOWED_ORIGINS: bad }), bad).toEqual([expect.stringContaining("CORS_ALLOWED_ORIGINS")]);
    }
  });
});

describe("legacy token profiles", () => {
  const secret = "s".repeat(32);

  it("are off by default, and on with an API's secret, for 15 minutes unless told", () => {
    expect(loadConfig({}).legacyTokens).toEqual({});
    expect(
      loadConfig({ LEGACY_TOKEN_VIDAPLUS_SECRET: secret, LEGACY_TOKEN_VIGIA_SECRET: `${secret}!`, LEGACY_TOKEN_VIGIA_TTL: "8h" })
        .legacyTokens,
    ).toEqual({
      vidaplus: { secret, ttlMs: 15 * 60_000 },
      vigia: { secret: `${secret}!`, ttlMs: 8 * 3_600_000 },
    });
  });

  it("keep a secret's exact bytes (the API's backends verify with them), from a file too", () => {
    const config = loadConfig({ LEGACY_TOKEN_VIGIA_SECRET_FILE: "/run/secrets/vigia" }, { readFile: () => ` ${secret} \n` });
    expect(config.legacyTokens.vigia?.secret).toBe(` ${secret} `);
  });

  it.each([
    [{ LEGACY_TOKEN_VIDAPLUS_SECRET: "short" }, /LEGACY_TOKEN_VIDAPLUS_SECRET: must be at least 32 bytes/],
    [{ LEGACY_TOKEN_VIDAPLUS_SECRET: secret, COMPAT_ROUTES: "vigia" }, /COMPAT_ROUTES does not serve vidaplus/],
    [
      { LEGACY_TOKEN_VIDAPLUS_SECRET: secret, LEGACY_TOKEN_VIGIA_SECRET: secret },
      /LEGACY_TOKEN_VIGIA_SECRET: the same as LEGACY_TOKEN_VIDAPLUS_SECRET/,
    ],
    [{ JWT_ALGORITHM: "HS256", JWT_SECRET: secret, LEGACY_TOKEN_VIGIA_SECRET: secret }, /the same as JWT_SECRET/],
    [{ LEGACY_TOKEN_VIGIA_TTL: "25h" }, /LEGACY_TOKEN_VIGIA_TTL: at most 24h/],
  ])("refuse %o", (env, problem) => {
    expect(problemsOf(env).some((p) => problem.test(p))).toBe(true);
  });

  it("point a UContact user's verification link at UContact's route, or where UCONTACT_EMAIL_VERIFY_URL says", () => {
    expect(loadConfig({ PUBLIC_URL: "https://auth.example.com" }).policy.verifyEmailUrlByApi).toEqual({
      ucontact: "https://auth.example.com/api/auth/confirmed_email/{token}",
    });
    expect(loadConfig({ UCONTACT_EMAIL_VERIFY_URL: "https://app.example.com/confirm/{token}" }).policy.verifyEmailUrlByApi.ucontact).toBe(
      "https://app.example.com/confirm/{token}",
    );
    expect(problemsOf({ UCONTACT_EMAIL_VERIFY_URL: "https://app.example.com/confirm" })[0]).toMatch(/holding \{token\} once/);
  });
});

describe("tracing (OTEL_*)", () => {
  it("is off, with nothing to load, unless an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp asks for it", () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_TRACES_EXPORTER: "otlp" }).tracing?.endpoint).toBe("http://localhost:4318/v1/traces");
  });

  it("builds the traces endpoint as the OTLP specification does, per protocol", () => {
    const on = (env: Record<string, string>) => loadConfig(env).tracing!;
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toMatchObject({
      protocol: "http/protobuf",
      endpoint: "http://collector:4318/v1/traces",
      serviceName: "authward",
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      acceptTraceparent: true,
      exportTimeoutMs: 10_000,
    });
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }).endpoint).toBe(
      "http://collector:4317",
    );
    // The signal's own endpoint is taken as it is, and its protocol over the shared one.
    expect(
      on({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://otel.example.com/custom",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toMatchObject({ endpoint: "https://otel.example.com/custom", protocol: "http/json" });
  });

  it("reads headers (from a file too: they may hold a key), resource attributes, the sampler and the batch settings", () => {
    const tracing = loadConfig(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_HEADERS_FILE: "/run/secrets/otlp",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod,team=id%20entity",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_PROPAGATORS: "none",
      },
      { readFile: () => "api-key=s3cr%3Dt,x-team=a\n" },
    ).tracing!;
    expect(tracing.headers).toEqual({ "api-key": "s3cr=t", "x-team": "a" });
    expect(tracing.resourceAttributes).toEqual({ "deployment.environment.name": "prod", team: "id entity" });
    expect(tracing).toMatchObject({ sampler: "parentbased_traceidratio", samplerRatio: 0.25, acceptTraceparent: false });
    expect(tracing.batch.scheduleDelayMs).toBe(100);
  });

  it("names every bad OTEL_ variable, never echoing a header's value", () => {
    const problems = problemsOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "thrift",
      OTEL_TRACES_EXPORTER: "zipkin",
      OTEL_TRACES_SAMPLER: "sometimes",
      OTEL_TRACES_SAMPLER_ARG: "2",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key-without-value-s3cret",
      OTEL_PROPAGATORS: "b3",
    });
    for (const name of [
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "OTEL_EXPORTER_OTLP_PROTOCOL",
      "OTEL_TRACES_EXPORTER",
      "OTEL_TRACES_SAMPLER=",
      "OTEL_TRACES_SAMPLER_ARG",
      "OTEL_EXPORTER_OTLP_HEADERS",
      "OTEL_PROPAGATORS",
    ]) {
      expect(
        problems.some((p) => p.startsWith(name)),
        name,
      ).toBe(true);
    }
    expect(problems.join("\n")).not.toContain("s3cret");
  });
});
