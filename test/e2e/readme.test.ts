/**
 * The README's examples, run as written against a real server (only the ports changed): the grpc-js
 * snippet, the curl lines and the buf curl line (gRPC-Web). If the README and the service disagree, this fails.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { recordSecret } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");

function codeBlock(language: string, after: string): string {
  const start = readme.indexOf(after);
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(readme.slice(start));
  if (start < 0 || match?.[1] === undefined) throw new Error(`no ${language} block after "${after}" in the README`);
  return match[1];
}

describe("the README's examples", () => {
  let app: TestApp;
  const withPorts = (text: string) =>
    text.replaceAll("localhost:50051", `127.0.0.1:${app.grpcPort}`).replaceAll("localhost:8080", `127.0.0.1:${app.httpPort}`);

  beforeAll(async () => {
    app = await startTestApp({ name: "readme" });
    recordSecret("correct horse battery staple");
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("the grpc-js snippet registers, logs in, reads Me and validates", async () => {
    const snippet = withPorts(codeBlock("js", "## Calling it"));
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", snippet], { cwd: root, timeout: 30_000 });
    expect(stdout).toBe("ada@example.com\ntrue\n");
  });

  it("the REST curl lines log in and read Me", async () => {
    const [loginLine, meLine] = withPorts(codeBlock("sh", "Over REST, at the")).trim().split("\n") as [string, string];
    const login = JSON.parse((await run("bash", ["-c", loginLine])).stdout) as { accessToken: string };
    recordSecret(login.accessToken);
    const me = JSON.parse((await run("bash", ["-c", meLine.replace("<the accessToken from Login>", login.accessToken)])).stdout);
    expect(me.user).toMatchObject({ email: "ada@example.com", username: "ada" });
  });

  it("the curl lines log in and validate over Connect", async () => {
    const [loginLine, validateLine] = withPorts(codeBlock("sh", "Over Connect with curl")).trim().split("\n") as [string, string];
    const login = JSON.parse((await run("bash", ["-c", loginLine])).stdout) as { accessToken: string; tokenType: string };
    expect(login.tokenType).toBe("Bearer");
    recordSecret(login.accessToken);
    const check = JSON.parse((await run("bash", ["-c", validateLine.replace("<the accessToken from Login>", login.accessToken)])).stdout);
    expect(check).toMatchObject({ active: true, email: "ada@example.com", username: "ada" });
  });

  it("the buf curl line logs in over gRPC-Web", async () => {
    const [line] = withPorts(codeBlock("sh", "Over gRPC-Web, with")).trim().split("\n") as [string];
    expect(line).toContain("--protocol grpcweb");
    const login = JSON.parse((await run("bash", ["-c", line], { cwd: root, timeout: 60_000 })).stdout) as {
      accessToken: string;
      tokenType: string;
    };
    recordSecret(login.accessToken);
    expect(login.tokenType).toBe("Bearer");
  });
});
