/**
 * docker-compose.yml is for users (no Docker engine runs here): it must be valid, and what
 * `docker-compose config` resolves it to must publish nothing beyond loopback by default, pin
 * every image, and keep Redis's data (sessions live only there).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = join(import.meta.dirname, "..", "..");
const compose = (args: string[], env: Record<string, string> = {}) =>
  execFileSync("docker-compose", ["-f", join(root, "docker-compose.yml"), ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  }).toString();

// Values for validation only: nothing here is a real secret.
const env = { POSTGRES_PASSWORD: "only-for-validation", KEY_ENCRYPTION_KEY: "dmFsaWRhdGlvbi1vbmx5LW5vdC1hLXJlYWwta2V5ISE=" };

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: (string | { published?: string | number; target?: number; host_ip?: string })[];
  environment?: Record<string, string>;
  ulimits?: Record<string, number | { soft: number; hard: number }>;
}
const servicesOf = (extra: Record<string, string> = {}): Record<string, Service> =>
  (parse(compose(["config"], { ...env, ...extra })) as { services: Record<string, Service> }).services;

/** Each published port as [host address, host port, container port]; the short syntax v1 prints. */
function published(service: Service): [string, string, string][] {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== "string") return [port.host_ip ?? "0.0.0.0", String(port.published), String(port.target)];
    const parts = port.replace(/\/(tcp|udp)$/, "").split(":");
    // "8080" or "8080:8080" bind every interface; "127.0.0.1:8080:8080" names one.
    if (parts.length === 3) return parts as [string, string, string];
    return ["0.0.0.0", parts[0] ?? "", parts.at(-1) ?? ""];
  });
}

describe("docker-compose.yml", () => {
  it("is valid and runs postgres, redis, an SMTP sink and the service", () => {
    compose(["config", "-q"], env);
    const services = compose(["config", "--services"], env).trim().split("\n").sort();
    expect(services).toEqual(["auth", "mailpit", "postgres", "redis"]);
    const config = compose(["config"], env);
    expect(config).toContain("DATABASE_URL: postgres://auth:only-for-validation@postgres:5432/auth");
    expect(config).toContain("REDIS_URL: redis://redis:6379");
    expect(config).toContain(`KEY_ENCRYPTION_KEY: ${env.KEY_ENCRYPTION_KEY}`);
    expect(config).toContain("SMTP_URL: smtp://mailpit:1025");
    expect(config.match(/healthcheck:/g)?.length).toBe(4);
    expect(config).not.toContain("JWT_PRIVATE_KEY");
  });

  it("refuses to run without a database password or a key-encryption key instead of shipping either", () => {
    expect(() => compose(["config", "-q"], { KEY_ENCRYPTION_KEY: env.KEY_ENCRYPTION_KEY })).toThrow(/POSTGRES_PASSWORD/);
    expect(() => compose(["config", "-q"], { POSTGRES_PASSWORD: env.POSTGRES_PASSWORD })).toThrow(/KEY_ENCRYPTION_KEY/);
  });

  it("publishes only the service's two ports and Mailpit's UI, all on loopback by default", () => {
    const services = servicesOf();
    expect(published(services.auth as Service)).toEqual([
      ["127.0.0.1", "8080", "8080"],
      ["127.0.0.1", "50051", "50051"],
    ]);
    expect(published(services.mailpit as Service)).toEqual([["127.0.0.1", "8025", "8025"]]);
    expect(published(services.postgres as Service)).toEqual([]);
    expect(published(services.redis as Service)).toEqual([]);
    for (const [name, service] of Object.entries(services)) {
      for (const [address] of published(service)) expect(address, name).toBe("127.0.0.1");
    }
  });

  it("exposes the service's ports on another address only when PUBLISH_ADDRESS says so", () => {
    const services = servicesOf({ PUBLISH_ADDRESS: "0.0.0.0" });
    expect(published(services.auth as Service).map(([address]) => address)).toEqual(["0.0.0.0", "0.0.0.0"]);
    // Mailpit's UI shows every mail, each holding a live token: it never follows.
    expect(published(services.mailpit as Service)).toEqual([["127.0.0.1", "8025", "8025"]]);
  });

  it("pins every image by exact version and digest, the Dockerfile's bases too", () => {
    const services = servicesOf();
    // A version (PostgreSQL's are major.minor: 16.14), never a floating tag such as 16 or latest,
    // and the digest of what it was when pinned.
    const pinned = /^[\w./-]+:v?\d+(\.\d+)+(-[\w.-]+)?@sha256:[0-9a-f]{64}$/;
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      expect(service.image, name).toMatch(pinned);
    }
    const bases = [...readFileSync(join(root, "Dockerfile"), "utf8").matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(pinned);
  });

  it("keeps Redis's data in an append-only file flushed every second, on a volume", () => {
    const redis = servicesOf().redis as Service & { volumes?: unknown[] };
    const command = redis.command ?? [];
    expect(command[command.indexOf("--appendonly") + 1]).toBe("yes");
    expect(command[command.indexOf("--appendfsync") + 1]).toBe("everysec");
    expect(JSON.stringify(redis.volumes)).toContain("/data");
  });

  it("gives the service what it needs with DATABASE_URL: a public URL and SMTP", () => {
    const auth = servicesOf().auth as Service;
    expect(auth.environment?.PUBLIC_URL).toBe("http://localhost:8080");
    expect(auth.environment?.SMTP_URL).toBe("smtp://mailpit:1025");
  });

  it("lets the service raise its invalidation thread to nice -10 (RLIMIT_NICE 30), and nothing more", () => {
    const auth = servicesOf().auth as Service;
    const nice = auth.ulimits?.nice;
    expect(typeof nice === "number" ? nice : nice?.soft).toBe(30);
  });
});
