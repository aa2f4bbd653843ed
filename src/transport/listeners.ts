/**
 * What both ports' listeners share: a cap on open connections, and the TLS certificate and key
 * they serve, reread when the files change. Each server (src/transport/http/server.ts,
 * src/transport/grpc/server.ts) applies these once, at its listener, not per route.
 */
import { readFileSync, statSync } from "node:fs";
import type { Server as NetServer, Socket } from "node:net";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import type { TlsConfig } from "../config.js";

/**
 * Closes connections beyond `max` open ones as they arrive, counted per server and process (each
 * cluster worker counts its own). Node's own `server.maxConnections` is not used: in a cluster, a
 * worker that refuses a connection hands it back to the primary, which offers it to the next
 * worker, and when all are full the connection circles between them, a busy loop. Accepting and
 * closing at once holds no file descriptor and costs nothing. The listener is added after the
 * server's own, so the socket was set up and closes like any client's.
 */
export function capConnections(server: NetServer, max: number, onRefused: () => void): void {
  let open = 0;
  server.on("connection", (socket: Socket) => {
    if (open >= max) {
      onRefused();
      socket.destroy();
      return;
    }
    open += 1;
    socket.once("close", () => {
      open -= 1;
    });
  });
}

/** A certificate chain and its private key, PEM. */
export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The TLS key pair both ports serve; `onChange` listeners hear of a renewed certificate. */
export interface TlsMaterial {
  current(): KeyPair;
  onChange(listener: (pair: KeyPair) => void): void;
  close(): void;
}

/** Reads the pair and checks that the key matches the certificate (Node builds a context from them); throws otherwise. */
function readKeyPair(config: TlsConfig): KeyPair {
  const pair = { cert: readFileSync(config.certFile), key: readFileSync(config.keyFile) };
  createSecureContext(pair);
  return pair;
}

/**
 * Loads TLS_CERT_FILE and TLS_KEY_FILE (start-up fails when they cannot be read or do not match),
 * then checks them every TLS_RELOAD_INTERVAL: a renewed pair is served to new connections at once;
 * a pair that cannot be read or does not match is logged and the previous one kept.
 */
export function loadTlsMaterial(config: TlsConfig, logger: Logger): TlsMaterial {
  let pair = readKeyPair(config);
  const listeners: ((pair: KeyPair) => void)[] = [];
  const stamp = () => {
    const cert = statSync(config.certFile);
    const key = statSync(config.keyFile);
    return `${cert.mtimeMs}:${cert.size}:${key.mtimeMs}:${key.size}`;
  };
  let seen = stamp();
  const timer =
    config.reloadIntervalMs > 0
      ? setInterval(() => {
          try {
            const now = stamp();
            if (now === seen) return;
            pair = readKeyPair(config);
            // Only now: a pair caught half-written is read again at the next check.
            seen = now;
            for (const listener of listeners) listener(pair);
            logger.info({ certFile: config.certFile }, "TLS certificate reloaded");
          } catch (error) {
            logger.error({ err: error, certFile: config.certFile }, "TLS certificate not reloaded; serving the previous one");
          }
        }, config.reloadIntervalMs)
      : undefined;
  timer?.unref();
  return {
    current: () => pair,
    onChange: (listener) => void listeners.push(listener),
    close: () => clearInterval(timer),
  };
}
