/**
 * TLS on both ports, against a certificate this test makes with openssl: native gRPC with grpc-js
 * over TLS (ALPN h2), Connect and REST with curl over HTTPS, no cleartext on either port, a
 * renewed certificate served to new connections without a restart, and a TLS handshake that never
 * finishes cut within the headers timeout.
 */
import { execFile, execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, ok } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

/** A self-signed certificate for localhost and 127.0.0.1, made by openssl (Debian's). */
function makeCertificate(dir: string, name: string, commonName: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

/** curl, asynchronously: the service runs in this process, and a synchronous child would stall it. */
async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await promisify(execFile)("curl", ["-sS", "-w", "\n%{http_code}", ...args], { encoding: "utf8", timeout: 15_000 });
  const lines = stdout.split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
}

/** The common name of the certificate a new TLS connection to `port` is served. */
function servedName(port: number, ca: Buffer, alpn: string[]): Promise<{ name: string; protocol: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: alpn }, () => {
      const name = new X509Certificate(socket.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).subject;
      resolve({ name, protocol: socket.alpnProtocol });
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

describe("TLS on both ports", () => {
  let app: TestApp;
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let ca: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "auth-tls-"));
    ({ cert: certFile, key: keyFile } = makeCertificate(dir, "server", "first"));
    ca = readFileSync(certFile);
    app = await startTestApp({
      name: "tls",
      env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_RELOAD_INTERVAL: "200ms", HEADERS_TIMEOUT: "1s", REQUEST_TIMEOUT: "2s" },
    });
  });
  afterAll(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves native gRPC over TLS (ALPN h2) to grpc-js", async () => {
    expect((await servedName(app.grpcPort, ca, ["h2"])).protocol).toBe("h2");
    const client = createGrpcClient(`localhost:${app.grpcPort}`, { credentials: grpc.credentials.createSsl(ca) });
    try {
      const email = `tls.${Date.now()}@example.com`;
      const password = newPassword();
      ok(await client.call("Register", { email, password }));
      const login = ok(await client.call("Login", { identifier: email, password }));
      expect(ok(await client.call("ValidateToken", { token: login.accessToken })).active).toBe(true);
    } finally {
      client.close();
    }
  });

  it("refuses cleartext gRPC on the TLS port", async () => {
    const client = createGrpcClient(`127.0.0.1:${app.grpcPort}`);
    try {
      const result = await client.call("ValidateToken", { token: "x" });
      expect(result.ok).toBe(false);
    } finally {
      client.close();
    }
  });

  it("serves Connect and REST over HTTPS to curl, and no cleartext HTTP", async () => {
    const base = `https://localhost:${app.httpPort}`;
    const email = `tls.curl.${Date.now()}@example.com`;
    const password = newPassword();
    const json = ["--cacert", certFile, "-H", "content-type: application/json"];
    expect((await curl([...json, "-d", JSON.stringify({ email, password }), `${base}/v1/auth/register`])).status).toBe(200);
    const login = await curl([...json, "-d", JSON.stringify({ identifier: email, password }), `${base}/auth.v1.AuthService/Login`]);
    expect(login.status).toBe(200);
    const token = recordSecret((JSON.parse(login.body) as { accessToken: string }).accessToken);
    const me = await curl(["--cacert", certFile, "-H", `authorization: Bearer ${token}`, `${base}/v1/auth/me`]);
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body).user.email).toBe(email);
    await expect(curl([`http://127.0.0.1:${app.httpPort}/healthz`])).rejects.toThrow();
  });

  it("cuts a TLS handshake that never finishes within the headers timeout", async () => {
    const socket = await new Promise<Socket>((resolve) => {
      const s = connect(app.httpPort, "127.0.0.1", () => resolve(s));
      s.on("error", () => {});
      s.resume();
    });
    socket.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, and no more
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 12_000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.destroy();
    expect(closed).toBe(true);
  });

  it("serves a renewed certificate to new connections on both ports, without a restart", async () => {
    const renewed = makeCertificate(dir, "renewed", "second");
    // Replace the files as a certificate manager would: the key, then the certificate.
    renameSync(renewed.key, keyFile);
    renameSync(renewed.cert, certFile);
    const newCa = readFileSync(certFile);
    const deadline = Date.now() + 10_000;
    let names: string[] = [];
    while (Date.now() < deadline) {
      names = await Promise.all(
        [app.httpPort, app.grpcPort].map((port) =>
          servedName(port, newCa, port === app.grpcPort ? ["h2"] : ["http/1.1"]).then(
            (served) => served.name,
            () => "old",
          ),
        ),
      );
      if (names.every((name) => name === "CN=second")) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(names).toEqual(["CN=second", "CN=second"]);
  });
});
