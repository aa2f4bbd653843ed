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

describe("docker-compose.yml", () => {
  it("is valid and runs postgres, redis, an SMTP sink and the service", () => {
    compose(["config", "-q"], { POSTGRES_PASSWORD: "only-for-validation" });
    const services = compose(["config", "--services"], { POSTGRES_PASSWORD: "only-for-validation" }).trim().split("\n").sort();
    expect(services).toEqual(["auth", "keygen", "mailpit", "postgres", "redis"]);
    const config = compose(["config"], { POSTGRES_PASSWORD: "only-for-validation" });
    expect(config).toContain("DATABASE_URL: postgres://auth:only-for-validation@postgres:5432/auth");
    expect(config).toContain("REDIS_URL: redis://redis:6379");
    expect(config).toContain("JWT_PRIVATE_KEY_FILE: /keys/jwt-es256.pem");
    expect(config).toContain("SMTP_URL: smtp://mailpit:1025");
    expect(config.match(/healthcheck:/g)?.length).toBe(4);
  });

  it("refuses to run without a database password instead of shipping one", () => {
    expect(() => compose(["config", "-q"])).toThrow(/POSTGRES_PASSWORD/);
  });
});
