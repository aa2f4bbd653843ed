/**
 * A Python client in the suite: stubs generated from proto/ during the test run (protoc with
 * grpcio's Python plugin, Debian's packages; the well-known protos from google-proto-files), then
 * test/clients/python_client.py against the running service, with Debian's python3-grpcio.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

describe("a Python gRPC client generated from proto/", () => {
  let app: TestApp;
  let stubs: string;

  beforeAll(async () => {
    app = await startTestApp({ name: "python" });
    stubs = mkdtempSync(join(tmpdir(), "auth-python-"));
    await run(
      "bash",
      [
        "-c",
        `protoc -Iproto -Inode_modules/google-proto-files --python_out=${stubs} --grpc_out=${stubs} ` +
          "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin proto/auth/v1/*.proto proto/google/api/*.proto proto/google/rpc/*.proto",
      ],
      { cwd: root },
    );
  });
  afterAll(async () => {
    await app?.stop();
    rmSync(stubs, { recursive: true, force: true });
  });

  it("registers, logs in, calls Me, validates, refreshes, and reads error reasons", async () => {
    const email = `python.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    const { stdout } = await run(
      "/usr/bin/python3",
      [join(root, "test", "clients", "python_client.py"), stubs, app.grpcAddress, email, password],
      {
        timeout: 60_000,
      },
    );
    const seen = JSON.parse(stdout);
    expect(seen).toMatchObject({
      me: { id: seen.registered, email, full_name: "Py Thon", roles: ["user"] },
      token_type: "Bearer",
      active: true,
      new_refresh_differs: true,
      failure: { code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" },
    });
    expect(seen.session_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
