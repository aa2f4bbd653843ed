/**
 * The REST gateway: every AuthService method at its `google.api.http` rule(s), read from the
 * descriptors, so that a method added later with a rule needs no code here. Path variables, query
 * parameters (for fields bound neither by the path nor by the body), `body: "*"` or a single-field
 * body, proto3 JSON in (both field spellings) and out (lowerCamelCase, every field present).
 */
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  fromJson,
  getOption,
  type JsonValue,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { AuthError } from "../../domain/errors.js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { toAuthError } from "../errors.js";
import { type AuthHandlers, handlerFor } from "../handlers.js";
import { readJsonObject, sendJson } from "../http/io.js";
import type { Exchange, HttpRoute } from "../http/router.js";
import { type PathTemplate, parsePathTemplate } from "./path-template.js";
import { sendStatus } from "./status.js";

/** One HTTP binding of a method: its verb, its path template, and what its body holds. */
export interface HttpBinding {
  readonly method: DescMethod;
  readonly verb: string;
  readonly template: PathTemplate;
  /** "*" (the whole message), a field name, or "" (no body). */
  readonly body: string;
}

/** Every binding of every method, in the order of the proto. */
export function httpBindings(): HttpBinding[] {
  return AuthService.methods.flatMap((method) => {
    const rule = getOption(method, http);
    return [rule, ...rule.additionalBindings].flatMap((binding: HttpRule) => {
      const { case: verb, value } = binding.pattern;
      if (verb === undefined) return [];
      const path = verb === "custom" ? value.path : value;
      const httpVerb = verb === "custom" ? value.kind : verb;
      return [{ method, verb: httpVerb.toUpperCase(), template: parsePathTemplate(path), body: binding.body }];
    });
  });
}

function fieldByName(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name || f.jsonName === name);
}

/** Converts a query-string value to what proto3 JSON expects for the field. */
function queryValue(field: DescField, values: string[]): JsonValue {
  // proto3 JSON takes numbers and enum names as strings; only booleans need converting.
  const isBool =
    (field.fieldKind === "scalar" && field.scalar === ScalarType.BOOL) ||
    (field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.BOOL);
  const convert = (text: string): JsonValue => (isBool ? text === "true" || text === "1" : text);
  return field.fieldKind === "list" ? values.map(convert) : convert(values[values.length - 1] ?? "");
}

/** Sets `value` at a dotted field path in a JSON object. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

/** The request message's JSON, from the body, the path and the query, as the binding says. */
async function requestJson(binding: HttpBinding, exchange: Exchange, maxRequestBytes: number): Promise<Record<string, unknown>> {
  const input = binding.method.input;
  let json: Record<string, unknown> = {};
  if (binding.body === "*") json = await readJsonObject(exchange.req, maxRequestBytes);
  else if (binding.body !== "") json = { [binding.body]: await readJsonObject(exchange.req, maxRequestBytes) };
  const bound = new Set(binding.template.variables.map((v) => v.split(".")[0]));
  if (binding.body !== "*") {
    const query = exchange.url.searchParams;
    for (const name of new Set(query.keys())) {
      const field = fieldByName(input, name.split(".")[0] ?? name);
      // Fields bound elsewhere and unknown parameters (cache busters) are ignored.
      if (field === undefined || bound.has(field.name) || field.name === binding.body) continue;
      setPath(json, name, queryValue(field, query.getAll(name)));
    }
  }
  for (const [path, value] of Object.entries(exchange.params)) setPath(json, path, value);
  return json;
}

export interface GatewayOptions {
  readonly maxRequestBytes: number;
}

export function gatewayRoutes(handlers: AuthHandlers, options: GatewayOptions): HttpRoute[] {
  return httpBindings().map((binding) => {
    const handler = handlerFor(handlers, binding.method);
    return {
      method: binding.verb,
      name: binding.method.name,
      match: (path) => binding.template.match(path),
      async handle(exchange) {
        try {
          const json = await requestJson(binding, exchange, options.maxRequestBytes);
          let request: ReturnType<typeof fromJson>;
          try {
            request = fromJson(binding.method.input, json as JsonValue, { ignoreUnknownFields: true });
          } catch (error) {
            throw new AuthError("INVALID_REQUEST", {
              message: `The request does not match ${binding.method.input.typeName}: ${(error as Error).message}`,
            });
          }
          const response = create(binding.method.output, (await handler(request, exchange.ctx)) as Record<string, unknown>);
          sendJson(exchange.res, 200, toJson(binding.method.output, response, { alwaysEmitImplicit: true }));
          return undefined;
        } catch (error) {
          const authError = toAuthError(error);
          sendStatus(exchange.res, authError);
          return authError;
        }
      },
    };
  });
}
