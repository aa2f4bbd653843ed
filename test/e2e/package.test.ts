/** `auth-service/client` is what other teams import: it must resolve from the built package. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

describe("the package's exports", () => {
  it("builds, and `auth-service/client` resolves to the verifier, the interceptor and the service", async () => {
    await run("npm", ["run", "--silent", "build"], { cwd: root, timeout: 120_000 });
    const script = `import("auth-service/client").then((m) => console.log(Object.keys(m).sort().join(",")))`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root });
    expect(stdout.trim().split(",")).toEqual(
      expect.arrayContaining([
        "AccessTokenError",
        "AuthService",
        "ErrorInfoSchema",
        "accessTokenInterceptor",
        "createAccessTokenVerifier",
        "kAccessToken",
      ]),
    );
  });
});
