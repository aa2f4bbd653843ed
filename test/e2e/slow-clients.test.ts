/**
 * Slow, stalled and greedy clients on both ports, with real sockets: connections whose headers,
 * body or gRPC message never finish are cut within the configured timeouts; the gRPC port
 * advertises a bounded number of concurrent streams; an oversized gRPC message is INVALID_ARGUMENT
 * with REQUEST_TOO_LARGE however large it claims to be; connections beyond MAX_CONNECTIONS are
 * closed as they arrive. Each bound is checked by waiting for the socket's `close` with a generous
 * upper bound (well under what the old code took), never by timing how fast it happened.
 */
import * as http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient } from "../support/clients.js";

/** Generous: the timeouts below are 1 s and 2 s; before these bounds, stalled connections lived 30 s to for ever. */
const CLOSED_WITHIN_MS = 12_000;

/** Resolves true when `socket` closes within `ms`, false otherwise (the socket is then destroyed). */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A raw TCP connection that reads (and drops) whatever the server sends, so that it sees the server close. */
function rawConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", () => {});
    socket.once("error", reject);
    socket.resume();
  });
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

/** A gRPC frame header: flag 0, then the big-endian length the message claims. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length, 1);
  return header;
}

describe("slow clients and HTTP/2 limits", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({
      name: "slow-clients",
      env: { HEADERS_TIMEOUT: "1s", REQUEST_TIMEOUT: "2s", GRPC_MAX_CONCURRENT_STREAMS: "128" },
    });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("closes 50 HTTP connections whose headers never finish, within the headers timeout", async () => {
    const sockets = await Promise.all(Array.from({ length: 50 }, () => rawConnection(app.httpPort)));
    for (const socket of sockets) socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const closed = await Promise.all(sockets.map((s) => closesWithin(s, CLOSED_WITHIN_MS)));
    expect(closed.filter(Boolean)).toHaveLength(50);
  });

  it("closes an HTTP connection that trickles its headers a byte at a time", async () => {
    const socket = await rawConnection(app.httpPort);
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const drip = setInterval(() => socket.writable && socket.write("a"), 200);
    try {
      expect(await closesWithin(socket, CLOSED_WITHIN_MS)).toBe(true);
    } finally {
      clearInterval(drip);
    }
  });

  it("closes an HTTP connection whose body trickles in, within the request timeout", async () => {
    const socket = await rawConnection(app.httpPort);
    socket.write("POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
    const drip = setInterval(() => socket.writable && socket.write(" "), 200);
    try {
      expect(await closesWithin(socket, CLOSED_WITHIN_MS)).toBe(true);
    } finally {
      clearInterval(drip);
    }
  });

  it("closes gRPC connections that never open a call (a partial preface, or nothing)", async () => {
    const partial = await rawConnection(app.grpcPort);
    partial.write("PRI * HTTP/2.0\r\n");
    const silent = await rawConnection(app.grpcPort);
    expect(await Promise.all([closesWithin(partial, CLOSED_WITHIN_MS), closesWithin(silent, CLOSED_WITHIN_MS)])).toEqual([true, true]);
  });

  it("ends a gRPC call whose message trickles in, within the request timeout", async () => {
    const session = http2.connect(`http://127.0.0.1:${app.grpcPort}`);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/auth.v1.AuthService/Login",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      stream.write(Buffer.concat([frameHeader(1000), Buffer.from([0x0a])]));
      const drip = setInterval(() => stream.writable && stream.write(Buffer.from([0x20])), 200);
      const ended = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), CLOSED_WITHIN_MS);
        stream.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
        stream.resume();
      });
      clearInterval(drip);
      expect(ended).toBe(true);
    } finally {
      session.destroy();
    }
  });

  it("advertises the configured bound on concurrent streams in its HTTP/2 SETTINGS", async () => {
    const session = http2.connect(`http://127.0.0.1:${app.grpcPort}`);
    session.on("error", () => {});
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
      expect(settings.maxConcurrentStreams).toBe(128);
    } finally {
      session.destroy();
    }
  });

  it("answers a gRPC message far over grpc-js's own cap with INVALID_ARGUMENT and REQUEST_TOO_LARGE", async () => {
    const client = createGrpcClient(app.grpcAddress);
    try {
      const huge = "p".repeat(Math.max(app.config.maxRequestBytes * 8, 4 * 1024 * 1024));
      const result = await client.call("Login", { identifier: "a@example.com", password: huge });
      expect(result).toMatchObject({ ok: false, code: "INVALID_ARGUMENT", reason: "REQUEST_TOO_LARGE" });
    } finally {
      client.close();
    }
  });

  it("answers a length prefix of 2 GB at once, without waiting for (or buffering) the bytes", async () => {
    const counted = { rpc: "Login", code: "InvalidArgument", transport: "grpc" };
    const before = sample(await (await fetch(app.metricsUrl)).text(), "auth_requests_total", counted);
    const session = http2.connect(`http://127.0.0.1:${app.grpcPort}`);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/auth.v1.AuthService/Login",
        "content-type": "application/grpc",
        "x-request-id": "refused-at-the-prefix",
        te: "trailers",
      });
      stream.on("error", () => {});
      stream.write(Buffer.concat([frameHeader(0x7fffffff), Buffer.alloc(16)]));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve));
      stream.resume();
      expect(headers["grpc-status"]).toBe("3");
      const details = fromBinary(StatusSchema, Buffer.from(String(headers["grpc-status-details-bin"]), "base64"));
      expect(details.details.map((any) => anyUnpack(any, ErrorInfoSchema)?.reason)).toEqual(["REQUEST_TOO_LARGE"]);
      expect(headers["cache-control"]).toBe("no-store");
      // Ended through the call envelope like any other call: the caller's request id, the metrics.
      expect(headers["x-request-id"]).toBe("refused-at-the-prefix");
      expect(sample(await (await fetch(app.metricsUrl)).text(), "auth_requests_total", counted)).toBe(before + 1);
    } finally {
      session.destroy();
    }
  });
});

describe("a gRPC message that cannot be decompressed", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ name: "grpc-decompress" });
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** Sends `body` on one Login call with `extra` headers; its answer's headers (a trailers-only answer's status). */
  async function loginCall(extra: http2.OutgoingHttpHeaders, body: Buffer): Promise<http2.IncomingHttpHeaders> {
    const session = http2.connect(`http://127.0.0.1:${app.grpcPort}`);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/auth.v1.AuthService/Login",
        "content-type": "application/grpc",
        te: "trailers",
        ...extra,
      });
      stream.on("error", () => {});
      stream.end(body);
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve));
      stream.resume();
      return headers;
    } finally {
      session.destroy();
    }
  }
  const gzipCall = (body: Buffer) => loginCall({ "grpc-encoding": "gzip" }, body);
  const compressed = (message: Buffer) => {
    const frame = Buffer.concat([frameHeader(message.length), message]);
    frame[0] = 1;
    return frame;
  };
  const refusals = async () =>
    sample(await (await fetch(app.metricsUrl)).text(), "auth_requests_total", { rpc: "Login", code: "InvalidArgument", transport: "grpc" });

  it("is INVALID_ARGUMENT with INVALID_REQUEST, as any malformed message, not grpc-js's INTERNAL", async () => {
    // The compressed flag, and three bytes that are no gzip stream.
    const headers = await gzipCall(compressed(Buffer.from([0x0a, 0x01, 0x61])));
    expect(headers["grpc-status"]).toBe("3");
    const details = fromBinary(StatusSchema, Buffer.from(String(headers["grpc-status-details-bin"]), "base64"));
    expect(details.details.map((any) => anyUnpack(any, ErrorInfoSchema)?.reason)).toEqual(["INVALID_REQUEST"]);
    expect(headers["x-request-id"]).toBeDefined();
  });

  it("ends a call of fifty unreadable messages once: one answer, one count", async () => {
    const before = await refusals();
    const headers = await gzipCall(Buffer.concat(Array.from({ length: 50 }, () => compressed(Buffer.from([0x0a, 0x01, 0x61])))));
    expect(headers["grpc-status"]).toBe("3");
    // grpc-js decompresses each message on its own, after the answer has gone: give the others time to fail.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await refusals()).toBe(before + 1);
  });

  it("answers a message that decompresses past the cap with REQUEST_TOO_LARGE", async () => {
    const bomb = gzipSync(Buffer.alloc(app.config.maxRequestBytes * 4));
    const headers = await gzipCall(compressed(bomb));
    expect(headers["grpc-status"]).toBe("3");
    const details = fromBinary(StatusSchema, Buffer.from(String(headers["grpc-status-details-bin"]), "base64"));
    expect(details.details.map((any) => anyUnpack(any, ErrorInfoSchema)?.reason)).toEqual(["REQUEST_TOO_LARGE"]);
  });

  it("leaves other grpc-js answers alone even when the caller's own text says `decompress`", async () => {
    // grpc-js answers an unreadable grpc-timeout with INTERNAL `Invalid grpc-timeout value "…"`,
    // quoting the caller's value: that is no decompression failure and must not be dressed as one.
    const headers = await loginCall({ "grpc-timeout": "decompress" }, frameHeader(0));
    expect(headers["grpc-status"]).toBe("13");
    expect(decodeURIComponent(String(headers["grpc-message"]))).toBe('Invalid grpc-timeout value "decompress"');
    expect(headers["grpc-status-details-bin"]).toBeUndefined();
  });
});

describe("MAX_CONNECTIONS", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ name: "max-connections", env: { MAX_CONNECTIONS: "3" } });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it.each(["http", "grpc"] as const)("closes a connection beyond the cap on the %s port as it arrives, and counts it", async (port) => {
    const number = port === "http" ? app.httpPort : app.grpcPort;
    const before = sample(await (await fetch(app.metricsUrl)).text(), "auth_connections_refused_total", { port });
    const held = await Promise.all(Array.from({ length: 3 }, () => rawConnection(number)));
    try {
      // Let the server register the three before the fourth arrives.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const extra = await rawConnection(number);
      expect(await closesWithin(extra, 5000)).toBe(true);
      expect(held.every((socket) => !socket.destroyed)).toBe(true);
      const after = sample(await (await fetch(app.metricsUrl)).text(), "auth_connections_refused_total", { port });
      expect(after - before).toBe(1);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // Once they are gone, new connections are served again.
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (port === "http") expect((await fetch(`${app.baseUrl}/healthz`)).status).toBe(200);
  });
});
