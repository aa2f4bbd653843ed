/** The routes of the HTTP port that are not Connect's: a path match, a method, a handler. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../../domain/model.js";
import { type CallFacts, type CallObserver, identifies, observeCallEnd, requestIdFrom } from "../call-log.js";
import { requestContextOf } from "./io.js";

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Values of the path's variables. */
  readonly params: Readonly<Record<string, string>>;
  readonly ctx: RequestContext;
  readonly requestId: string;
}

export interface HttpRoute {
  /** GET, POST, DELETE … */
  readonly method: string;
  /** For logs: the RPC, or what the route is (`oauth.token`, `compat.vigia.login`). */
  readonly name: string;
  match(path: string): Readonly<Record<string, string>> | undefined;
  /**
   * Answers the request, errors included (each family of routes has its own error format), and
   * resolves with the error it answered with, if any, for the log.
   */
  handle(exchange: Exchange): Promise<unknown>;
}

export type RouteResult =
  | { readonly kind: "no-route" }
  | { readonly kind: "wrong-method"; readonly allow: readonly string[] }
  | { readonly kind: "handled" };

/** Finds the route for a request and runs it with a request id, the caller's context and one log line. */
export function createRouter(routes: readonly HttpRoute[], observer: CallObserver) {
  return async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<RouteResult> {
    const matches = routes.flatMap((r) => {
      const params = r.match(url.pathname);
      return params === undefined ? [] : [{ route: r, params }];
    });
    if (matches.length === 0) return { kind: "no-route" };
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const found = matches.find((m) => m.route.method === method);
    if (found === undefined) return { kind: "wrong-method", allow: [...new Set(matches.map((m) => m.route.method))] };

    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers["x-request-id"] as string | undefined);
    res.setHeader("x-request-id", requestId);
    const plain = requestContextOf(req);
    const facts: CallFacts = { transport: "rest", rpc: found.route.name, requestId, tenant: plain.tenantHeader };
    const ctx: RequestContext = { ...plain, onIdentified: identifies(facts) };
    try {
      observeCallEnd(observer, facts, startedAt, await found.route.handle({ req, res, url, params: found.params, ctx, requestId }));
    } catch (error) {
      observeCallEnd(observer, facts, startedAt, error);
      throw error;
    }
    return { kind: "handled" };
  };
}

/** Matches one fixed path. */
export const exactPath =
  (path: string) =>
  (candidate: string): Record<string, string> | undefined =>
    candidate === path ? {} : undefined;
