/**
 * The raw ES256 limit of this machine, the floor of ValidateToken for a token never seen before:
 * verifications (and signatures) per second with every core busy, no service, no network, on a
 * token of the service's shape. Two primitives, so that the faster one is a measured choice:
 * node:crypto's one-shot `verify`/`sign` with a KeyObject (what infra/crypto/jws.ts uses), one
 * worker thread per core; and WebCrypto through jose (what the service used before), whose jobs
 * run on the libuv pool (UV_THREADPOOL_SIZE = the cores, set by the caller).
 *
 * argv[2]: seconds per measurement. Prints JSON: per primitive, operations per second on every
 * core and CPU µs per operation.
 */
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { availableParallelism } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { importJWK, type JWK, jwtVerify, SignJWT } from "jose";

const seconds = Number(process.argv[2] ?? 5);
const claims = {
  sid: "Jq2b0i8D1xYl9xk3aF0yGg",
  tid: "default",
  roles: ["user"],
  email: "someone@example.com",
  email_verified: false,
  amr: ["pwd"],
  iss: "https://auth.bench.example",
  aud: "api",
  sub: "0b0e1a5c-4b7b-4b8e-9b5c-2f9f0a3c1d2e",
  iat: 1_800_000_000,
  exp: 4_000_000_000,
  jti: "8f14e45f-ceea-467f-a8f1-2b4b1f8c2a1e",
};

type Measured = { perSecond: number; cpuUsPerOperation: number };

/** This thread's CPU (Node ≥ 23.9); in a worker, `process.cpuUsage` counts every thread of the process. */
const threadCpu = (since?: NodeJS.CpuUsage) =>
  (process as unknown as { threadCpuUsage(since?: NodeJS.CpuUsage): NodeJS.CpuUsage }).threadCpuUsage(since);

/** Runs `operation` for `seconds` on this thread; operations per second and CPU per operation. */
async function timed(operation: () => unknown | Promise<unknown>): Promise<Measured> {
  const cpu0 = threadCpu();
  const t0 = performance.now();
  let done = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await operation();
    done++;
  }
  const cpu = threadCpu(cpu0);
  return { perSecond: done / ((performance.now() - t0) / 1000), cpuUsPerOperation: (cpu.user + cpu.system) / done };
}

if (!isMainThread) {
  const { kind, privateKeyPem, token } = workerData as { kind: "verify" | "sign"; privateKeyPem: string; token: string };
  const { createPrivateKey, createPublicKey } = await import("node:crypto");
  const privateKey = createPrivateKey(privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const dot = token.lastIndexOf(".");
  const input = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), "base64url");
  const operation =
    kind === "verify"
      ? () => verify("sha256", input, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature) || process.exit(1)
      : () => sign("sha256", input, { key: privateKey, dsaEncoding: "ieee-p1363" });
  parentPort?.postMessage(await timed(operation));
} else {
  const cores = availableParallelism();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const token = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" }).sign(privateKey);
  const privateKeyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();

  /** One thread per core, each running the node:crypto primitive; the sum, and CPU per operation. */
  const onEveryCore = async (kind: "verify" | "sign"): Promise<Measured> => {
    const results = await Promise.all(
      Array.from(
        { length: cores },
        () =>
          new Promise<Measured>((resolve, reject) => {
            const worker = new Worker(new URL(import.meta.url), { workerData: { kind, privateKeyPem, token }, argv: [String(seconds)] });
            worker.once("message", resolve);
            worker.once("error", reject);
          }),
      ),
    );
    const perSecond = results.reduce((sum, r) => sum + r.perSecond, 0);
    return { perSecond: Math.round(perSecond), cpuUsPerOperation: round(results.reduce((s, r) => s + r.cpuUsPerOperation, 0) / cores) };
  };

  /** WebCrypto through jose, `2 × cores` calls in flight on the libuv pool; CPU of the whole process. */
  const webCrypto = async (operation: () => Promise<unknown>): Promise<Measured> => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: cores * 2 }, async () => {
        while (performance.now() - t0 < seconds * 1000) {
          await operation();
          done++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { perSecond: Math.round(done / ((performance.now() - t0) / 1000)), cpuUsPerOperation: round((cpu.user + cpu.system) / done) };
  };

  const verificationKey = await importJWK({ ...(publicKey.export({ format: "jwk" }) as JWK), alg: "ES256" }, "ES256");
  const result = {
    cores,
    nodeVerify: await onEveryCore("verify"),
    nodeSign: await onEveryCore("sign"),
    webCryptoVerify: await webCrypto(() => jwtVerify(token, verificationKey)),
    webCryptoSign: await webCrypto(() =>
      new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" }).sign(privateKey),
    ),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
