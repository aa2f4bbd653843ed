/**
 * The OpenAPI 3.1 document of the REST API, generated from the descriptors: every binding of every
 * `google.api.http` rule, the JSON schemas of the messages (proto3 JSON mapping), the bearer
 * security scheme (from each method's `caller_auth` option), the error schema, and the OAuth token
 * endpoint. Descriptions come from the proto comments (src/gen/descriptors.binpb, built by
 * `npm run generate`).
 */
import { readFileSync } from "node:fs";
import { type DescEnum, type DescField, type DescMessage, fromBinary, getOption, ScalarType } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { CallerAuth, caller_auth } from "../../gen/auth/v1/options_pb.js";
import { type HttpBinding, httpBindings } from "./gateway.js";

type Schema = Record<string, unknown>;

/** Leading comments of every element, by fully-qualified name, from the descriptor set with source info. */
function loadComments(): Map<string, string> {
  const comments = new Map<string, string>();
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(new URL("../../gen/descriptors.binpb", import.meta.url)));
  for (const file of set.file) {
    const byPath = new Map<string, string>();
    for (const location of file.sourceCodeInfo?.location ?? []) {
      if (location.leadingComments) byPath.set(location.path.join("."), location.leadingComments.trim().replace(/\n /g, "\n"));
    }
    const prefix = file.package ? `${file.package}.` : "";
    file.messageType.forEach((message, i) => {
      const name = `${prefix}${message.name}`;
      const own = byPath.get(`4.${i}`);
      if (own) comments.set(name, own);
      message.field.forEach((field, j) => {
        const text = byPath.get(`4.${i}.2.${j}`);
        if (text) comments.set(`${name}.${field.name}`, text);
      });
    });
    file.enumType.forEach((enumType, i) => {
      const text = byPath.get(`5.${i}`);
      if (text) comments.set(`${prefix}${enumType.name}`, text);
    });
    file.service.forEach((service, i) => {
      const text = byPath.get(`6.${i}`);
      if (text) comments.set(`${prefix}${service.name}`, text);
      service.method.forEach((method, j) => {
        const methodText = byPath.get(`6.${i}.2.${j}`);
        if (methodText) comments.set(`${prefix}${service.name}.${method.name}`, methodText);
      });
    });
  }
  return comments;
}

const schemaRef = (typeName: string) => ({ $ref: `#/components/schemas/${typeName}` });

function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0 };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.STRING:
      return { type: "string" };
    default:
      // 64-bit integers are strings in proto3 JSON.
      return { type: "string", format: "int64" };
  }
}

function messageFieldSchema(message: DescMessage, collect: (m: DescMessage | DescEnum) => void): Schema {
  switch (message.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    default:
      collect(message);
      return schemaRef(message.typeName);
  }
}

function fieldSchema(field: DescField, collect: (m: DescMessage | DescEnum) => void): Schema {
  const single = (): Schema => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        collect(field.enum);
        return schemaRef(field.enum.typeName);
      case "message":
        return messageFieldSchema(field.message, collect);
      case "list":
        if (field.listKind === "scalar") return scalarSchema(field.scalar);
        if (field.listKind === "message") return messageFieldSchema(field.message, collect);
        collect(field.enum);
        return schemaRef(field.enum.typeName);
      case "map":
        return { type: "object", additionalProperties: field.mapKind === "scalar" ? scalarSchema(field.scalar) : { type: "object" } };
    }
  };
  return field.fieldKind === "list" ? { type: "array", items: single() } : single();
}

export interface OpenApiOptions {
  readonly serverUrl: string;
  readonly version: string;
}

export function openApiDocument(options: OpenApiOptions): Schema {
  const comments = loadComments();
  const schemas: Record<string, Schema> = {};
  const pending: (DescMessage | DescEnum)[] = [];
  const collect = (desc: DescMessage | DescEnum) => {
    if (!(desc.typeName in schemas) && !pending.includes(desc)) pending.push(desc);
  };

  const paths: Record<string, Record<string, Schema>> = {};
  const bindingsByMethod = new Map<string, HttpBinding[]>();
  for (const binding of httpBindings())
    bindingsByMethod.set(binding.method.name, [...(bindingsByMethod.get(binding.method.name) ?? []), binding]);

  for (const [methodName, bindings] of bindingsByMethod) {
    bindings.forEach((binding, index) => {
      const { method, template } = binding;
      const description = comments.get(`${AuthService.typeName}.${methodName}`) ?? "";
      const pathFields = new Set(template.variables.map((v) => v.split(".")[0]));
      const parameters: Schema[] = template.variables.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
      if (binding.body !== "*") {
        for (const field of method.input.fields) {
          if (pathFields.has(field.name) || field.name === binding.body || field.fieldKind === "message" || field.fieldKind === "map")
            continue;
          parameters.push({
            name: field.jsonName,
            in: "query",
            required: false,
            description: comments.get(`${method.input.typeName}.${field.name}`),
            schema: fieldSchema(field, collect),
          });
        }
      }
      collect(method.input);
      collect(method.output);
      const auth = getOption(method, caller_auth);
      const operation: Schema = {
        operationId: index === 0 ? methodName : `${methodName}${index + 1}`,
        tags: [AuthService.name],
        summary: description.split("\n")[0] ?? methodName,
        description,
        parameters,
        responses: {
          "200": { description: "OK", content: { "application/json": { schema: schemaRef(method.output.typeName) } } },
          default: {
            description: "An error: the code, a message and an ErrorInfo detail with the reason.",
            content: { "application/json": { schema: schemaRef("google.rpc.Status") } },
          },
        },
      };
      if (binding.body !== "") {
        operation.requestBody = {
          required: true,
          content: {
            "application/json": {
              schema:
                binding.body === "*"
                  ? schemaRef(method.input.typeName)
                  : fieldSchema(method.input.fields.find((f) => f.name === binding.body)!, collect),
            },
          },
        };
      }
      if (auth === CallerAuth.BEARER) operation.security = [{ bearerAuth: [] }];
      if (auth === CallerAuth.BEARER_OPTIONAL) operation.security = [{ bearerAuth: [] }, {}];
      paths[template.openApiPath] = { ...paths[template.openApiPath], [binding.verb.toLowerCase()]: operation };
    });
  }

  while (pending.length > 0) {
    const desc = pending.shift()!;
    if (desc.kind === "enum") {
      schemas[desc.typeName] = { type: "string", enum: desc.values.map((v) => v.name), description: comments.get(desc.typeName) };
      continue;
    }
    const properties: Record<string, Schema> = {};
    for (const field of desc.fields) {
      const description = comments.get(`${desc.typeName}.${field.name}`);
      properties[field.jsonName] = { ...fieldSchema(field, collect), ...(description ? { description } : {}) };
    }
    schemas[desc.typeName] = { type: "object", description: comments.get(desc.typeName), properties };
  }
  schemas["google.rpc.Status"] = {
    type: "object",
    description: "An error, as google.rpc.Status in proto3 JSON.",
    properties: {
      code: { type: "integer", description: "The gRPC status code (3 INVALID_ARGUMENT, 16 UNAUTHENTICATED, …)." },
      message: { type: "string" },
      details: {
        type: "array",
        items: {
          type: "object",
          properties: {
            "@type": { type: "string", const: "type.googleapis.com/google.rpc.ErrorInfo" },
            reason: { type: "string", description: "One of the closed list of reasons in the README." },
            domain: { type: "string", const: "auth.v1" },
            metadata: { type: "object", additionalProperties: { type: "string" } },
          },
        },
      },
    },
  };

  paths["/v1/auth/token"] = {
    post: {
      operationId: "OAuthToken",
      tags: ["OAuth 2.0"],
      summary: "OAuth 2.0 token endpoint for first-party clients (RFC 6749 §4.3 and §6).",
      description:
        "grant_type=password (username = email or username) or grant_type=refresh_token. The password grant is for the service owner's own apps only (RFC 9700 §2.4).",
      requestBody: {
        required: true,
        content: {
          "application/x-www-form-urlencoded": {
            schema: {
              type: "object",
              required: ["grant_type"],
              properties: {
                grant_type: { type: "string", enum: ["password", "refresh_token"] },
                username: { type: "string" },
                password: { type: "string", format: "password" },
                refresh_token: { type: "string" },
              },
            },
          },
        },
      },
      responses: {
        "200": {
          description: "Tokens (RFC 6749 §5.1).",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  access_token: { type: "string" },
                  token_type: { type: "string", const: "bearer" },
                  expires_in: { type: "integer" },
                  refresh_token: { type: "string" },
                  refresh_expires_in: { type: "integer" },
                },
              },
            },
          },
        },
        "400": {
          description: "An error (RFC 6749 §5.2).",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: { error: { type: "string" }, error_description: { type: "string" }, reason: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "Auth service REST API",
      version: options.version,
      description: `${comments.get(AuthService.typeName) ?? ""}\n\nThe same API is served over gRPC and Connect; see the README.`,
    },
    servers: [{ url: options.serverUrl }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
  };
}
