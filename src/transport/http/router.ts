/**
 * The routes of the HTTP port that are not Connect's (the REST gateway, the OAuth endpoint, the
 * seed-compatible routes): a path match, a method, a handler and an error format. The router runs
 * the matched route through the call envelope and writes its failure in the route's format.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { DescMethod } from "@bufbuild/protobuf";
import type { RequestContext } from "../../domain/model.js";
import type { CallEnvelope } from "../call/envelope.js";
import { toAuthError } from "../errors.js";
import { type ErrorFormat, httpErrorStatus, writeHttpError } from "./errors.js";
import { afterHttpAnswer } from "./io.js";

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Values of the path's variables. */
  readonly params: Readonly<Record<string, string>>;
  readonly ctx: RequestContext;
}

export interface HttpRoute {
  /** GET, POST, DELETE … */
  readonly method: string;
  /** For logs: the RPC, or what the route is (`oauth.token`, `compat.vigia.login`). */
  readonly name: string;
  /** The RPC the route serves, when it serves exactly one (the gateway's routes), for per-RPC concerns. */
  readonly rpc?: DescMethod;
  /** The path template (`/v1/admin/tenants/{tenant}`), for traces (`http.route`) and the OpenAPI document. */
  readonly path?: string;
  /** The route's OpenAPI operation and its tag, declared beside the route (the seed routes'); the gateway's come from the proto instead. */
  readonly openApi?: { readonly operation: Readonly<Record<string, unknown>>; readonly tag: OpenApiTag };
  /** How the route's family answers an error. */
  readonly errors: ErrorFormat;
  /** Whether the route takes this request, when two routes share a path and a method (by content type); default yes. */
  accepts?(req: IncomingMessage): boolean;
  match(path: string): Readonly<Record<string, string>> | undefined;
  /** Reads the request, calls the flow and writes the answer; throws what went wrong, for the router to write. */
  handle(exchange: Exchange): Promise<void>;
}

/** A group of operations in the OpenAPI document (one per seed API). */
export interface OpenApiTag {
  readonly name: string;
  readonly description: string;
}

export type RouteResult =
  | { readonly kind: "no-route" }
  | { readonly kind: "wrong-method"; readonly allow: readonly string[] }
  | { readonly kind: "handled" };

/** The first value of a request header. */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Finds the route for a request and runs it through the call envelope. */
export function createRouter(routes: readonly HttpRoute[], envelope: CallEnvelope) {
  const matching = (path: string) =>
    routes.flatMap((r) => {
      const params = r.match(path);
      return params === undefined ? [] : [{ route: r, params }];
    });
  /** Runs the route for `path` (the exact path, paths.ts); `url` gives the query. */
  async function route(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<RouteResult> {
    const matches = matching(path);
    if (matches.length === 0) return { kind: "no-route" };
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const found = matches.find((m) => m.route.method === method && (m.route.accepts?.(req) ?? true));
    if (found === undefined) return { kind: "wrong-method", allow: [...new Set(matches.map((m) => m.route.method))] };

    const { route, params } = found;
    const call = envelope.open({
      transport: "rest",
      name: route.name,
      method: route.rpc,
      header: (name) => headerOf(req, name),
      peer: req.socket.remoteAddress,
      afterAnswer: (start) => afterHttpAnswer(res, start),
      http: {
        method,
        route: route.path,
        status: (error) => (error === undefined ? res.statusCode : httpErrorStatus(error, route.errors)),
      },
    });
    for (const [key, value] of Object.entries(call.responseHeaders)) res.setHeader(key, value);
    try {
      await envelope.run(call, (c) => route.handle({ req, res, url, params, ctx: c.ctx }));
    } catch (error) {
      writeHttpError(res, toAuthError(error), route.errors);
    }
    return { kind: "handled" };
  }
  /** The methods some route takes at `path` (none: no route there). */
  const methodsAt = (path: string): string[] => [...new Set(matching(path).map((m) => m.route.method))];
  return Object.assign(route, { methodsAt });
}

/** Matches one fixed path. */
export const exactPath =
  (path: string) =>
  (candidate: string): Record<string, string> | undefined =>
    candidate === path ? {} : undefined;
