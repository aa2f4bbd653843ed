/**
 * The REST gateway: every RPC of every served service at its `google.api.http` rule(s), read from
 * the descriptors, so that a method or a service added later with rules needs no code here. Path variables, query
 * parameters (for fields bound neither by the path nor by the body), `body: "*"` or a single-field
 * body, proto3 JSON in (both field spellings) and out (lowerCamelCase, every field present).
 */
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromJson,
  getOption,
  type JsonValue,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { AuthError, invalidField } from "../../domain/errors.js";
import { checkKey, emptyRecord } from "../../domain/keys.js";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { statusFormat } from "../http/errors.js";
import { readJsonObject, sendJson } from "../http/io.js";
import type { Exchange, HttpRoute } from "../http/router.js";
import type { Rpc, ServedService } from "../services.js";
import { type PathTemplate, parsePathTemplate } from "./path-template.js";

/** One HTTP binding of a method: its verb, its path template, and what its body holds. */
export interface HttpBinding {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly verb: string;
  readonly template: PathTemplate;
  /** "*" (the whole message), a field name, or "" (no body). */
  readonly body: string;
}

/** The bindings of one method: its rule and the rule's additional bindings. */
export function methodBindings(service: DescService, method: DescMethod): HttpBinding[] {
  const rule = getOption(method, http);
  return [rule, ...rule.additionalBindings].flatMap((binding: HttpRule) => {
    const { case: verb, value } = binding.pattern;
    if (verb === undefined) return [];
    const path = verb === "custom" ? value.path : value;
    const httpVerb = verb === "custom" ? value.kind : verb;
    return [{ service, method, verb: httpVerb.toUpperCase(), template: parsePathTemplate(path), body: binding.body }];
  });
}

/** Every binding of every method of `services`, in the order of the protos. */
export function httpBindings(services: readonly DescService[]): HttpBinding[] {
  return services.flatMap((service) => service.methods.flatMap((method) => methodBindings(service, method)));
}

function fieldByName(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name || f.jsonName === name);
}

const booleans: ReadonlyMap<string, boolean> = new Map([
  ["true", true],
  ["1", true],
  ["false", false],
  ["0", false],
]);

/** Converts a query-string value of parameter `name` to what proto3 JSON expects for the field. */
function queryValue(name: string, field: DescField, values: string[]): JsonValue {
  // proto3 JSON takes numbers and enum names as strings; only booleans need converting, and a
  // value that is neither true nor false is refused: read as false, `active=TRUE` or `active=yes`
  // would silently filter for the opposite.
  const isBool =
    (field.fieldKind === "scalar" && field.scalar === ScalarType.BOOL) ||
    (field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.BOOL);
  const convert = (text: string): JsonValue => {
    if (!isBool) return text;
    const value = booleans.get(text.toLowerCase());
    if (value === undefined) throw invalidField(name, "expected true or false");
    return value;
  };
  return field.fieldKind === "list" ? values.map(convert) : convert(values[values.length - 1] ?? "");
}

/**
 * Sets `value` at a dotted field path of the request message's JSON, resolving every segment
 * against the descriptors: a path that names no field is ignored when its first segment is unknown
 * (cache busters), refused when it walks into a scalar or an unknown nested field, and refused
 * whenever a segment is `__proto__`, `constructor` or `prototype`. Objects are built without a
 * prototype, so no caller-chosen key is ever assigned into an ordinary object.
 */
function setField(target: Record<string, unknown>, message: DescMessage, name: string, value: (field: DescField) => JsonValue): void {
  const parts = name.split(".");
  for (const part of parts) checkKey(part, `the parameter ${JSON.stringify(name)}`);
  let node = target;
  let descriptor: DescMessage | undefined = message;
  for (const [index, part] of parts.entries()) {
    const field: DescField | undefined = descriptor === undefined ? undefined : fieldByName(descriptor, part);
    if (field === undefined) {
      if (index === 0) return;
      throw invalidField(name, "names no field of the request");
    }
    const key = field.jsonName;
    if (index === parts.length - 1) {
      node[key] = value(field);
      return;
    }
    if (field.fieldKind !== "message") throw invalidField(name, `${parts.slice(0, index + 1).join(".")} is not a message`);
    const child = node[key];
    if (typeof child !== "object" || child === null || Array.isArray(child)) node[key] = emptyRecord();
    node = node[key] as Record<string, unknown>;
    descriptor = field.message;
  }
}

/** The request message's JSON, from the body, the path and the query, as the binding says. */
async function requestJson(binding: HttpBinding, exchange: Exchange, maxRequestBytes: number): Promise<Record<string, unknown>> {
  const input = binding.method.input;
  let json: Record<string, unknown> = emptyRecord();
  if (binding.body === "*") json = await readJsonObject(exchange.req, maxRequestBytes);
  else if (binding.body !== "") json[binding.body] = await readJsonObject(exchange.req, maxRequestBytes);
  const bound = new Set(binding.template.variables.map((v) => v.split(".")[0]));
  if (binding.body !== "*") {
    const query = exchange.url.searchParams;
    for (const name of new Set(query.keys())) {
      const first = fieldByName(input, name.split(".")[0] ?? name);
      // Fields bound elsewhere are ignored, like unknown parameters (cache busters).
      if (first !== undefined && (bound.has(first.name) || first.name === binding.body)) continue;
      setField(json, input, name, (field) => queryValue(name, field, query.getAll(name)));
    }
  }
  for (const [path, value] of Object.entries(exchange.params)) setField(json, input, path, () => value);
  return json;
}

export interface GatewayOptions {
  readonly maxRequestBytes: number;
}

/** A route for every binding of every RPC of `services`; errors as google.rpc.Status JSON. */
export function gatewayRoutes(services: readonly ServedService[], options: GatewayOptions): HttpRoute[] {
  return services.flatMap(({ service, rpcs }) =>
    rpcs.flatMap((rpc) => methodBindings(service, rpc.method).map((binding) => gatewayRoute(binding, rpc, options))),
  );
}

function gatewayRoute(binding: HttpBinding, rpc: Rpc, options: GatewayOptions): HttpRoute {
  const { input, output } = binding.method;
  return {
    method: binding.verb,
    name: binding.method.name,
    rpc: binding.method,
    path: binding.template.openApiPath,
    errors: statusFormat,
    match: (path) => binding.template.match(path),
    async handle(exchange) {
      const json = await requestJson(binding, exchange, options.maxRequestBytes);
      let request: ReturnType<typeof fromJson>;
      try {
        request = fromJson(input, json as JsonValue, { ignoreUnknownFields: true });
      } catch (error) {
        throw new AuthError("INVALID_REQUEST", { message: `The request does not match ${input.typeName}: ${(error as Error).message}` });
      }
      const response = await rpc.handle(request, exchange.ctx);
      sendJson(exchange.res, 200, toJson(output, response, { alwaysEmitImplicit: true }));
    },
  };
}
