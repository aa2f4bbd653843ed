/**
 * The client package as another team gets it: `npm pack` of packages/client, installed offline
 * into a fresh app outside this repository (its peers packed from this workspace, so nothing is
 * fetched), then used against the real running service from Node and from a browser bundle in
 * Chromium (the page and the service's paths served from one origin, as a reverse proxy would).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const npm = (args: string[], cwd: string) => run("npm", [...args, "--no-audit", "--no-fund"], { cwd, timeout: 180_000 });

/** What the app does with the client, in Node and in the browser alike (scenario.mjs in the app). */
const scenario = `
import { AccessTokenError, createAccessTokenVerifier, createAuthClient } from "authward-client";

export async function scenario({ transport, jwksUrl, issuer, email, password }) {
  let changes = 0;
  const auth = createAuthClient({ transport, onTokens: () => changes++ });
  await auth.service.register({ email, password });
  const user = await auth.login(email, password);
  const me = (await auth.service.me({})).user;
  const first = auth.tokens();
  // Restored with an access token it believes stale: the next call refreshes first.
  const restored = createAuthClient({ transport, tokens: { ...first, accessExpiresAt: Date.now() } });
  const meAgain = (await restored.service.me({})).user;
  const second = restored.tokens();
  const verifier = createAccessTokenVerifier({ jwksUrl, issuer, audience: "api" });
  const claims = await verifier.verify(second.accessToken);
  let tampered = "accepted";
  try {
    await verifier.verify(second.accessToken.slice(0, -6) + (second.accessToken.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"));
  } catch (error) {
    tampered = error instanceof AccessTokenError ? error.reason : String(error);
  }
  return {
    loginEmail: user?.email,
    meEmail: me?.email,
    meId: me?.id,
    meAgainId: meAgain?.id,
    refreshed: second.accessToken !== first.accessToken && second.refreshToken !== first.refreshToken,
    verifiedUserId: claims.userId,
    verifiedEmail: claims.email,
    tampered,
    changes,
  };
}
`;

const nodeEntry = `
import { createConnectTransport } from "@connectrpc/connect-node";
import { scenario } from "./scenario.mjs";

const { BASE_URL, ISSUER, EMAIL, PASSWORD } = process.env;
const transport = createConnectTransport({ baseUrl: BASE_URL, httpVersion: "1.1" });
const result = await scenario({ transport, jwksUrl: BASE_URL + "/.well-known/jwks.json", issuer: ISSUER, email: EMAIL, password: PASSWORD });
let deepImport = "allowed";
try {
  await import("authward-client/dist/verifier.js");
} catch (error) {
  deepImport = error.code;
}
console.log(JSON.stringify({ ...result, deepImport }));
`;

const browserEntry = `
import { createConnectTransport } from "@connectrpc/connect-web";
import { scenario } from "./scenario.mjs";

const params = new URLSearchParams(location.hash.slice(1));
const transport = createConnectTransport({ baseUrl: location.origin });
scenario({
  transport,
  jwksUrl: location.origin + "/.well-known/jwks.json",
  issuer: params.get("issuer"),
  email: params.get("email"),
  password: params.get("password"),
}).then(
  (result) => { window.__result = { ok: true, ...result }; },
  (error) => { window.__result = { ok: false, error: String(error && error.stack ? error.stack : error) }; },
);
`;

describe("the client package, installed from its tarball into a fresh app", () => {
  let service: TestApp;
  let work: string;
  let appDir: string;
  let packedFiles: string[];

  beforeAll(async () => {
    service = await startTestApp({ name: "client-package" });
    work = mkdtempSync(join(tmpdir(), "authward-client-"));
    const tarballs = join(work, "tarballs");
    mkdirSync(tarballs);
    // prepack builds dist/ first, so the tarball never ships a stale build.
    const { stdout } = await npm(["pack", "-w", "authward-client", "--json", "--pack-destination", tarballs], root);
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    if (packed === undefined) throw new Error("npm pack printed nothing");
    packedFiles = packed.files.map((f) => f.path).sort();

    // The client's dependency and the app's transports, packed from this workspace's node_modules:
    // the app's install then needs nothing from the registry (our machines may lack their metadata).
    const local = ["jose", "@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "@connectrpc/connect-web"];
    const dependencies: Record<string, string> = { "authward-client": `file:${join(tarballs, packed.filename)}` };
    for (const name of local) {
      const out = await npm(["pack", join(root, "node_modules", name), "--json", "--ignore-scripts", "--pack-destination", tarballs], root);
      const [dep] = JSON.parse(out.stdout.slice(out.stdout.indexOf("["))) as { filename: string }[];
      dependencies[name] = `file:${join(tarballs, dep?.filename ?? "")}`;
    }
    appDir = join(work, "app");
    mkdirSync(appDir);
    writeFileSync(join(appDir, "package.json"), JSON.stringify({ name: "some-app", private: true, type: "module", dependencies }, null, 2));
    writeFileSync(join(appDir, "scenario.mjs"), scenario);
    writeFileSync(join(appDir, "node.mjs"), nodeEntry);
    writeFileSync(join(appDir, "browser.mjs"), browserEntry);
    await npm(["install", "--offline"], appDir);
  }, 300_000);

  afterAll(async () => {
    await service?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("ships only its build, README, LICENSE and package.json", () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/gen/auth/v1/auth_pb.js"]),
    );
    const unexpected = packedFiles.filter(
      (f) => !["LICENSE", "README.md", "package.json"].includes(f) && !/^dist\/.+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
    const installed = join(appDir, "node_modules", "authward-client");
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toBe(readFileSync(join(root, "LICENSE"), "utf8"));
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest.license).toBe("Apache-2.0");
    // Nothing of the service's runtime comes along.
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(["jose"]);
    expect(Object.keys(manifest.peerDependencies ?? {}).sort()).toEqual(["@bufbuild/protobuf", "@connectrpc/connect"]);
  });

  it("signs in, refreshes and verifies tokens offline from Node, importing only through its exports", async () => {
    const email = `pkg.node.${randomBytes(4).toString("hex")}@example.com`;
    const { stdout } = await run(process.execPath, ["node.mjs"], {
      cwd: appDir,
      timeout: 60_000,
      env: { ...process.env, BASE_URL: service.baseUrl, ISSUER: service.config.jwt.issuer, EMAIL: email, PASSWORD: newPassword() },
    });
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ loginEmail: email, meEmail: email, refreshed: true, verifiedEmail: email, tampered: "TOKEN_INVALID" });
    expect(result.meAgainId).toBe(result.meId);
    expect(result.verifiedUserId).toBe(result.meId);
    expect(result.changes).toBe(1);
    expect(result.deepImport).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  it("bundles for the browser and does the same in Chromium, against the service through one origin", async () => {
    const bundle = await build({
      absWorkingDir: appDir,
      entryPoints: ["browser.mjs"],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(bundle.metafile.inputs);
    // Resolved from the installed tarball, and nothing Node-only came along.
    expect(inputs).toContain("node_modules/authward-client/dist/index.js");
    expect(inputs.filter((i) => i.startsWith("node:") || i.includes("connect-node"))).toEqual([]);
    const script = bundle.outputFiles[0]?.text ?? "";

    // One origin for the page and the service (no CORS needed): the page, its script, and a
    // reverse proxy to the service's HTTP port for everything else.
    const page = `<!doctype html><meta charset="utf-8"><title>client</title><script type="module" src="/app.js"></script>`;
    const server: Server = createServer((req, res) => {
      if (req.url === "/") return void res.writeHead(200, { "content-type": "text/html" }).end(page);
      if (req.url === "/app.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      const upstream = request(
        { host: "127.0.0.1", port: service.httpPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const tab = await browser.newPage();
      const email = `pkg.browser.${randomBytes(4).toString("hex")}@example.com`;
      const hash = new URLSearchParams({ issuer: service.config.jwt.issuer, email, password: newPassword() });
      await tab.goto(`${origin}/#${hash}`);
      await tab.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 30_000 });
      const result = await tab.evaluate(() => (globalThis as { __result?: Record<string, unknown> }).__result);
      expect(result).toMatchObject({
        ok: true,
        loginEmail: email,
        meEmail: email,
        refreshed: true,
        verifiedEmail: email,
        tampered: "TOKEN_INVALID",
      });
      expect(result?.verifiedUserId).toBe(result?.meId);
      expect(result?.meAgainId).toBe(result?.meId);
    } finally {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 90_000);
});
