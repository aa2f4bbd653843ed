/**
 * The CLI against a running embedded service (`npm start` with no configuration), as an operator
 * would use it: the administration commands go through the service's AdminService, so the service
 * sees at once what they changed and it survives a restart; the commands that must open the
 * database themselves refuse, clearly, while the service holds the embedded data folder, and work
 * again once it has stopped.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newPassword, recordSecret } from "../support/secrets.js";
import { freePort } from "../support/servers.js";

const root = join(import.meta.dirname, "..", "..");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("the CLI against a running embedded service", () => {
  let dataDir: string;
  let env: Record<string, string>;
  let baseUrl: string;
  let service: ChildProcess | undefined;
  let output = "";
  const rootPassword = newPassword();
  const bobPassword = newPassword();

  /** `authward <args>` (the CLI from the sources), with `input` on standard input. */
  const cli = (args: string[], input = "", extraEnv: Record<string, string> = {}) =>
    new Promise<Run>((resolve) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", "src/cli.ts", ...args],
        { cwd: root, env: { ...env, ...extraEnv }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input);
    });

  async function startService(): Promise<void> {
    output = "";
    const start = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.start as string;
    const [command, ...args] = start.split(" ") as [string, ...string[]];
    const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    service = child;
    const log = createWriteStream(join(inject("logDir"), `admin-cli-${process.pid}-${Date.now()}.log`));
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
  }

  async function stopService(): Promise<number | null> {
    const child = service;
    if (child === undefined || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    return exited;
  }

  async function signIn(tenant: string, identifier: string, password: string): Promise<string> {
    const response = await fetch(`${baseUrl}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-tenant": tenant },
      body: JSON.stringify({ identifier, password }),
    });
    const body = (await response.json()) as { accessToken?: string; details?: { reason?: string }[] };
    if (body.accessToken === undefined) throw new Error(`login failed: ${JSON.stringify(body)}`);
    return recordSecret(body.accessToken);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "auth-admin-cli-"));
    const httpPort = await freePort();
    baseUrl = `http://127.0.0.1:${httpPort}`;
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DATA_DIR: dataDir,
      HTTP_PORT: String(httpPort),
      GRPC_PORT: String(await freePort()),
      PUBLIC_URL: baseUrl,
      BCRYPT_COST: "4",
    };
    // Before any service runs: the first platform admin, straight into the database.
    const bootstrap = await cli(["bootstrap-platform-admin", "--email", "root@example.com", "--password-stdin"], `${rootPassword}\n`);
    expect(bootstrap.stdout).toContain("created platform admin root@example.com");
    await startService();
  }, 120_000);

  afterAll(async () => {
    if (service !== undefined && service.exitCode === null) service.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses, naming the running service, every command that would open its database", async () => {
    const pid = service?.pid;
    for (const args of [
      ["bootstrap-platform-admin", "--email", "x@example.com"],
      ["migrate"],
      ["keys", "rotate"],
      ["import-users", "/dev/null"],
    ]) {
      const run = await cli(args, "", { ADMIN_PASSWORD: newPassword() });
      expect(run.code, args.join(" ")).toBe(1);
      expect(run.stderr, args.join(" ")).toContain(`in use by the auth service (pid ${pid})`);
      expect(run.stderr).toContain("--url");
    }
  }, 60_000);

  it("administers through the running service: what the commands change, the service sees at once", async () => {
    const created = await cli(
      ["create-tenant", "acme", "--password-min-length", "10", "--login", "root@example.com", "--login-tenant", "system"],
      `${rootPassword}\n`,
    );
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toContain("created tenant acme: password_min_length=10");

    const token = await signIn("system", "root@example.com", rootPassword);
    const asRoot = (args: string[], input = "") => cli([...args, "--url", baseUrl], input, { AUTH_ADMIN_TOKEN: token });
    const role = await asRoot(["create-role", "qf", "--tenant", "acme", "--permissions", '{"icsr":{"view":true,"edit":true}}']);
    // PostgreSQL's jsonb keeps its own key order.
    expect(role.stdout).toMatch(
      /^created role qf in acme with permissions \{"icsr":\{("view":true,"edit":true|"edit":true,"view":true)\}\}$/m,
    );
    expect((await asRoot(["create-user", "bob@example.com", "--tenant", "acme", "--email-verified"], `${bobPassword}\n`)).stdout).toMatch(
      /created #\d+ \S+ bob@example\.com active roles: user/,
    );
    expect((await asRoot(["grant", "bob@example.com", "qf", "--tenant", "acme"])).stdout).toContain("roles: user,qf");

    const bob = await signIn("acme", "bob@example.com", bobPassword);
    const me = (await (await fetch(`${baseUrl}/v1/auth/me`, { headers: { authorization: `Bearer ${bob}` } })).json()) as { user: object };
    expect(me.user).toMatchObject({ roles: ["user", "qf"], permissions: { icsr: { view: true, edit: true } } });

    const listed = await asRoot(["list-users", "--tenant", "acme"]);
    expect(listed.stdout).toMatch(/bob@example\.com active roles: user,qf/);
    expect(listed.stdout).toContain("1 user(s) in acme");

    // Five wrong passwords lock bob at this address, in the embedded service's own limits too;
    // `unlock` through the service lifts it.
    const guess = () =>
      fetch(`${baseUrl}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tenant": "acme" },
        body: JSON.stringify({ identifier: "bob@example.com", password: "not-bobs-password" }),
      });
    for (let i = 0; i < 5; i++) expect((await guess()).status).toBe(401);
    const locked = await guess();
    expect([locked.status, locked.headers.get("retry-after")]).toEqual([429, "60"]);
    expect((await asRoot(["unlock", "bob@example.com", "--tenant", "acme"])).stdout).toMatch(
      /^unlocked bob@example\.com at every address: cleared \d+ counter\(s\)$/m,
    );
    expect(await signIn("acme", "bob@example.com", bobPassword)).toBeTruthy();

    expect((await asRoot(["disable", "bob@example.com", "--tenant", "acme"])).stdout).toContain(
      "disabled roles: user,qf; 2 session(s) ended",
    );
    const check = (await (
      await fetch(`${baseUrl}/v1/auth/validate-token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: bob }),
      })
    ).json()) as { active: boolean };
    expect(check.active).toBe(false);
    expect((await asRoot(["list-users", "--tenant", "acme", "--disabled"])).stdout).toContain("bob@example.com");
  }, 120_000);

  it("says what is wrong: no credential, a caller who is no admin, an unreachable service", async () => {
    const none = await cli(["list-users", "--url", baseUrl]);
    expect(none.code).toBe(64);
    expect(none.stderr).toContain("no administrator credential");
    const token = await signIn("system", "root@example.com", rootPassword);
    ok(await cli(["enable", "bob@example.com", "--tenant", "acme", "--url", baseUrl], "", { AUTH_ADMIN_TOKEN: token }));
    const bob = await signIn("acme", "bob@example.com", bobPassword);
    const denied = await cli(["list-users", "--tenant", "acme", "--url", baseUrl], "", { AUTH_ADMIN_TOKEN: bob });
    expect(denied).toMatchObject({ code: 1 });
    expect(denied.stderr).toContain("PERMISSION_DENIED ADMIN_REQUIRED");
    const away = await cli(["list-users", "--url", `http://127.0.0.1:${await freePort()}`], "", { AUTH_ADMIN_TOKEN: token });
    expect(away.code).toBe(1);
    expect(away.stderr).toContain("cannot reach the service");
  }, 60_000);

  it("lets go of the data folder when the service stops: the commands work again, and what was changed is still there", async () => {
    expect(await stopService()).toBe(0);
    expect(existsSync(join(dataDir, "pglite.lock"))).toBe(false);
    expect(await cli(["migrate"])).toMatchObject({ code: 0, stdout: "database is up to date\n" });
    await startService();
    const token = await signIn("system", "root@example.com", rootPassword);
    const listed = await cli(["list-users", "--tenant", "acme", "--url", baseUrl], "", { AUTH_ADMIN_TOKEN: token });
    expect(listed.stdout).toMatch(/bob@example\.com active roles: user,qf/);
  }, 120_000);
});

function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`the command failed (${run.code}): ${run.stderr}`);
  return run;
}
