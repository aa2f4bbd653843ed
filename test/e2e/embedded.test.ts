/**
 * `npm start` with no environment: the whole service in one process (PGlite, the in-process Redis
 * stand-in, a key generated into the data folder). A real gRPC client registers, logs in and
 * validates; SIGTERM stops it with exit code 0. Only the ports and the data folder are set, so
 * that the test neither collides with anything nor writes into the checkout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createGrpcClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { freePort } from "../support/servers.js";

const root = join(import.meta.dirname, "..", "..");

describe("npm start with no configuration", () => {
  let child: ChildProcess;
  let dataDir: string;
  let grpcPort: number;
  let httpPort: number;
  let exited: Promise<number | null>;
  let output = "";

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "auth-embedded-"));
    grpcPort = await freePort();
    httpPort = await freePort();
    // Exactly the command of `npm start`, without npm in between (so SIGTERM reaches the service).
    const start = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.start as string;
    const [command, ...args] = start.split(" ") as [string, ...string[]];
    child = spawn(command, args, {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ENV_FILE: "/dev/null",
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        METRICS_PORT: String(await freePort()),
        DATA_DIR: dataDir,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const log = createWriteStream(join(inject("logDir"), `embedded-${process.pid}.log`));
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      log.write(chunk);
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 50_000;
    while (!output.includes("auth service listening")) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("says loudly that it runs embedded, and keeps its key ring's encryption key in the data folder", async () => {
    expect(output).toContain("EMBEDDED MODE");
    expect(output).toContain("created the first signing key of the ring");
    expect(statSync(join(dataDir, "keys", "key-encryption-key")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dataDir, "pglite"))).toBe(true);
    const jwks = (await (await fetch(`http://127.0.0.1:${httpPort}/.well-known/jwks.json`)).json()) as { keys: { alg: string }[] };
    expect(jwks.keys.map((key) => key.alg)).toEqual(["ES256"]);
  });

  it("registers, logs in, validates and refreshes over gRPC", async () => {
    const client = createGrpcClient(`127.0.0.1:${grpcPort}`);
    try {
      const email = `embedded.${randomBytes(4).toString("hex")}@example.com`;
      const password = newPassword();
      expect(await client.call("Register", { email, password })).toMatchObject({ ok: true });
      const login = await client.call("Login", { identifier: email.toUpperCase(), password });
      if (!login.ok) throw new Error(`login failed: ${login.code}`);
      const check = await client.call("ValidateToken", { token: login.response.accessToken });
      expect(check).toMatchObject({ ok: true, response: { active: true, email } });
      // Rotation runs the same Lua on the in-process stand-in: twice, and a retry in the grace window.
      const first = await client.call("Refresh", { refreshToken: login.response.refreshToken });
      const retry = await client.call("Refresh", { refreshToken: login.response.refreshToken });
      if (!first.ok || !retry.ok) throw new Error("refresh failed");
      expect(retry.response.refreshToken).toBe(first.response.refreshToken);
      const second = await client.call("Refresh", { refreshToken: first.response.refreshToken });
      expect(second).toMatchObject({ ok: true });
    } finally {
      client.close();
    }
  });

  it("writes mail to the outbox in the data folder, and only says where in the log", async () => {
    const client = createGrpcClient(`127.0.0.1:${grpcPort}`);
    try {
      const email = `outbox.${randomBytes(4).toString("hex")}@example.com`;
      expect(await client.call("Register", { email, password: newPassword() })).toMatchObject({ ok: true });
      const outbox = join(dataDir, "outbox");
      const deadline = Date.now() + 10_000;
      let mail: string | undefined;
      while (mail === undefined) {
        const file = existsSync(outbox)
          ? readdirSync(outbox).find((f) => readFileSync(join(outbox, f), "utf8").includes(`To: ${email}`))
          : undefined;
        if (file !== undefined) mail = readFileSync(join(outbox, file), "utf8");
        else if (Date.now() > deadline) throw new Error("no mail in the outbox");
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const token = recordSecret(new URL(/https?:\/\/\S+/.exec(mail)![0]).searchParams.get("token")!);
      expect(output).toContain("mail written to the outbox folder");
      expect(output).not.toContain(token);
      expect(await client.call("VerifyEmail", { token })).toMatchObject({ ok: true, response: { user: { email, emailVerified: true } } });
    } finally {
      client.close();
    }
  });

  it("stops on SIGTERM with exit code 0", async () => {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  });
});
