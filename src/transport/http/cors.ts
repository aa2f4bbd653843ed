/**
 * CORS for browser apps on other origins, for every route family on the HTTP port at once
 * (Connect, gRPC-Web, the REST gateway, the OAuth endpoint, the seed routes). Only the origins of
 * CORS_ALLOWED_ORIGINS, compared exactly, are let in: an origin is never reflected unless it is on
 * the list, never `*`, and no credentials mode is offered (the API authenticates with the
 * `authorization` header, which a page must set itself; no cookie is involved). The header lists
 * are connect-es's published ones (`cors` from @connectrpc/connect) plus our own headers.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { cors as connectCors } from "@connectrpc/connect";
import { writeBareRefusal } from "./errors.js";

/** Headers a page may send: Connect's and gRPC-Web's, plus ours. */
export const CORS_ALLOWED_HEADERS: readonly string[] = [...connectCors.allowedHeaders, "authorization", "x-tenant", "x-request-id"];
/** Headers a page may read: Connect's and gRPC-Web's (grpc-status, grpc-message …), plus ours. */
export const CORS_EXPOSED_HEADERS: readonly string[] = [...connectCors.exposedHeaders, "x-request-id", "www-authenticate"];
/** Methods a Connect or gRPC-Web path takes from a browser (Connect's list). */
export const CONNECT_METHODS: readonly string[] = connectCors.allowedMethods;

/** What `applyCors` did with a request. */
export type CorsOutcome = "not-cross-origin" | "allowed" | "refused";

export interface Cors {
  /**
   * Adds the CORS headers to the answer of any request: `Vary: Origin` whenever an allow-list is
   * configured (the answer differs by origin, so caches must key on it), and the allowed origin
   * with the exposed headers when the request's origin is on the list.
   */
  apply(req: IncomingMessage, res: ServerResponse): CorsOutcome;
  /** Whether the request is a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method). */
  isPreflight(req: IncomingMessage): boolean;
  /** Answers a preflight for a path that takes `methods`: 204 with what may be sent, or 403 for an origin not on the list. */
  answerPreflight(req: IncomingMessage, res: ServerResponse, outcome: CorsOutcome, methods: readonly string[]): void;
}

export function createCors(allowedOrigins: readonly string[]): Cors {
  const allowed = new Set(allowedOrigins);
  return {
    apply(req, res) {
      const origin = req.headers.origin;
      if (allowed.size > 0) res.setHeader("vary", "Origin");
      if (origin === undefined) return "not-cross-origin";
      if (!allowed.has(origin)) return "refused";
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", "));
      return "allowed";
    },
    isPreflight: (req) =>
      req.method === "OPTIONS" && req.headers.origin !== undefined && req.headers["access-control-request-method"] !== undefined,
    answerPreflight(_req, res, outcome, methods) {
      if (outcome !== "allowed") {
        // No CORS headers: the browser refuses the call and the page sees a network error.
        writeBareRefusal(res, 403);
        return;
      }
      res.writeHead(204, {
        "access-control-allow-methods": methods.join(", "),
        "access-control-allow-headers": CORS_ALLOWED_HEADERS.join(", "),
        // Chromium's ceiling; preflights are then cached two hours per URL.
        "access-control-max-age": "7200",
        "cache-control": "no-store",
      });
      res.end();
    },
  };
}
