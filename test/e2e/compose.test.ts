/** docker-compose.yml is for users (no Docker engine runs here): it must at least be valid. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const compose = (args: string[], env: Record<string, string> = {}) =>
  execFileSync("docker-compose", ["-f", join(root, "docker-compose.yml"), ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  }).toString();

// Values for validation only: nothing here is a real secret.
const env = { POSTGRES_PASSWORD: "only-for-validation", KEY_ENCRYPTION_KEY: "dmFsaWRhdGlvbi1vbmx5LW5vdC1hLXJlYWwta2V5ISE=" };

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
});
