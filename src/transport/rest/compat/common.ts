/**
 * What the seed-compatible routes share: their options, the FastAPI-style error format (and its
 * schema), the route constructor with its OpenAPI declaration, and the domain-to-JSON pieces
 * several seeds answer with. Every route calls a domain
 * flow and maps the domain's values to its seed's JSON; none re-implements a flow.
 */
import type { AuthError, AuthErrorReason } from "../../../domain/errors.js";
import type { Flows } from "../../../domain/flows.js";
import type { OldApi, RequestContext } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import { type Exchange, exactPath, type HttpRoute, type OpenApiTag } from "../../http/router.js";
import { parsePathTemplate } from "../path-template.js";

export interface CompatOptions {
  readonly flows: Flows;
  readonly maxRequestBytes: number;
}

/** HTTP status of an error in the FastAPI-style seeds (validation errors are 422 there). */
export function fastApiStatus(error: AuthError): number {
  switch (error.category) {
    case "invalid_input":
      return error.reason === "REQUEST_TOO_LARGE" ? 413 : 422;
    case "unauthenticated":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "precondition":
      return 400;
    case "rate_limited":
      return 429;
    case "unavailable":
      return 503;
    default:
      return 500;
  }
}

/**
 * A FastAPI error body: `{"detail": "..."}`, or for a validation error the list FastAPI sends
 * (`[{type, loc, msg}]`), with the seed's own messages where it had them. `reason` is ours, the
 * same catalog as on every other transport.
 */
export function fastApiErrors(messages: Partial<Record<AuthErrorReason, string>> = {}): ErrorFormat {
  return {
    status: fastApiStatus,
    plainChallenge: true,
    openApiSchema: fastApiErrorSchema,
    body(error, status) {
      const message = messages[error.reason] ?? error.message;
      const field = error.metadata.field;
      const detail =
        status === 422
          ? [{ type: error.message.endsWith("required") ? "missing" : "value_error", loc: ["body", field ?? "body"], msg: message }]
          : message;
      return { detail, reason: error.reason };
    },
  };
}

/** A JSON Schema (OpenAPI 3.1's dialect), for the OpenAPI document. */
export type Schema = Readonly<Record<string, unknown>>;

/** JSON Schema shorthands for the declarations beside each route. */
export const schema = {
  string: { type: "string" } as Schema,
  integer: { type: "integer" } as Schema,
  boolean: { type: "boolean" } as Schema,
  nullable: (inner: Schema): Schema => ({ ...inner, type: [inner.type, "null"] }),
  array: (items: Schema): Schema => ({ type: "array", items }),
  /** An object with exactly these properties, all present in every answer; `optional` ones may be absent. */
  object: (properties: Record<string, Schema>, optional: readonly string[] = []): Schema => ({
    type: "object",
    properties,
    required: Object.keys(properties).filter((key) => !optional.includes(key)),
    additionalProperties: false,
  }),
};

/** The body `fastApiErrors` writes: FastAPI's `detail` (a message, or its validation list) and our reason. */
const fastApiErrorSchema: Schema = schema.object({
  detail: {
    oneOf: [schema.string, schema.array(schema.object({ type: schema.string, loc: schema.array(schema.string), msg: schema.string }))],
  },
  reason: schema.string,
});

/**
 * How a seed route appears in the OpenAPI document, declared beside the route so that a change
 * to one is a change to the other (test/e2e/openapi.test.ts checks the real answers against it).
 */
export interface CompatDoc {
  /** The seed API: the operation's tag. */
  readonly api: OpenApiTag;
  readonly summary: string;
  readonly description?: string;
  /** The request body: a form or JSON, and its schema; none for a GET or a body-less POST. */
  readonly body?: { readonly form: Schema } | { readonly json: Schema };
  /** Needs `Authorization: Bearer <access token>`. */
  readonly bearer?: boolean;
  /** Reads the tenant from `X-Tenant`. */
  readonly tenantHeader?: "optional" | "required";
  /** The success status (default 200) and its JSON body. */
  readonly status?: number;
  readonly answer: Schema;
  /** A browser (Accept: text/html) gets a page instead. */
  readonly page?: boolean;
}

/**
 * A route of a seed API at `path` (a template such as `/api/auth/confirmed_email/{token}`),
 * documented by `doc`. Its calls carry the API (`RequestContext.api`): the flows issue and accept
 * that API's legacy tokens where the operator configured a profile for it, and mail links to its
 * own confirmation route.
 */
export function compatRoute(
  api: OldApi,
  method: string,
  path: string,
  name: string,
  handle: (exchange: Exchange) => Promise<void>,
  errors: ErrorFormat,
  doc: CompatDoc,
): HttpRoute {
  const template = path.includes("{") ? parsePathTemplate(path) : undefined;
  const match = template === undefined ? exactPath(path) : (candidate: string) => template.match(candidate);
  return {
    method,
    name,
    errors,
    match,
    path,
    // The envelope's context with the API added, without copying it: a spread would read its lazy
    // `ip` (the client address through TRUSTED_PROXIES) on every call, though few flows need it.
    handle: (exchange) => handle({ ...exchange, ctx: withApi(exchange.ctx, api) }),
    openApi: { operation: compatOperation(name, template?.variables ?? [], errors, doc), tag: doc.api },
  };
}

/** `ctx` carrying `api`: its other facts, getters included, are read through to `ctx` as they are asked for. */
function withApi(ctx: RequestContext, api: OldApi): RequestContext {
  return Object.create(ctx, { api: { value: api, enumerable: true } }) as RequestContext;
}

/** The OpenAPI operation of a seed route. */
function compatOperation(name: string, variables: readonly string[], errors: ErrorFormat, doc: CompatDoc): Schema {
  const parameters: Schema[] = variables.map((variable) => ({ name: variable, in: "path", required: true, schema: schema.string }));
  if (doc.tenantHeader !== undefined) {
    const required = doc.tenantHeader === "required";
    parameters.push({ name: "X-Tenant", in: "header", required, description: "The tenant the call is about.", schema: schema.string });
  }
  const json = (body: Schema) => ({ "application/json": { schema: body } });
  const answer = doc.page ? { ...json(doc.answer), "text/html": { schema: schema.string } } : json(doc.answer);
  const body =
    doc.body === undefined
      ? undefined
      : "form" in doc.body
        ? { "application/x-www-form-urlencoded": { schema: doc.body.form } }
        : json(doc.body.json);
  return {
    operationId: name.replaceAll(".", "_"),
    tags: [doc.api.name],
    summary: doc.summary,
    ...(doc.description === undefined ? {} : { description: doc.description }),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(body === undefined ? {} : { requestBody: { required: true, content: body } }),
    responses: {
      [String(doc.status ?? 200)]: { description: "OK", content: answer },
      default: {
        description: "An error, in this API's own shape; `reason` is the service's error reason.",
        content: json(errors.openApiSchema ?? {}),
      },
    },
    ...(doc.bearer ? { security: [{ bearerAuth: [] }] } : {}),
  };
}

/** A required string field of a JSON body or form, as the domain would call it missing. */
export function text(source: Record<string, unknown> | URLSearchParams, name: string): string {
  const value = source instanceof URLSearchParams ? source.get(name) : source[name];
  return typeof value === "string" ? value : "";
}
