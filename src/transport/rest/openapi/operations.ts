/** The OpenAPI operations of the REST gateway: one per binding of every RPC of every served service. */
import { getOption } from "@bufbuild/protobuf";
import { CallerAuth, caller_auth } from "../../../gen/auth/v1/options_pb.js";
import type { HttpBinding } from "../gateway.js";
import { type createSchemaCollector, fieldSchema, type Schema, schemaRef } from "./schemas.js";

type Collector = ReturnType<typeof createSchemaCollector>;

/** The `paths` of `bindings`; a method's second binding gets operationId `<Method>2`, and so on. */
export function gatewayPaths(bindings: readonly HttpBinding[], comments: ReadonlyMap<string, string>, schemas: Collector) {
  const paths: Record<string, Record<string, Schema>> = {};
  const seen = new Map<string, number>();
  for (const binding of bindings) {
    const key = `${binding.service.typeName}.${binding.method.name}`;
    const index = seen.get(key) ?? 0;
    seen.set(key, index + 1);
    const operation = gatewayOperation(binding, index, comments, schemas);
    paths[binding.template.openApiPath] = { ...paths[binding.template.openApiPath], [binding.verb.toLowerCase()]: operation };
  }
  return paths;
}

function gatewayOperation(binding: HttpBinding, index: number, comments: ReadonlyMap<string, string>, schemas: Collector): Schema {
  const { service, method } = binding;
  const description = comments.get(`${service.typeName}.${method.name}`) ?? "";
  schemas.collect(method.input);
  schemas.collect(method.output);
  const operation: Schema = {
    operationId: index === 0 ? method.name : `${method.name}${index + 1}`,
    tags: [service.name],
    summary: description.split("\n")[0] ?? method.name,
    description,
    parameters: parameters(binding, comments, schemas),
    responses: {
      "200": { description: "OK", content: { "application/json": { schema: schemaRef(method.output.typeName) } } },
      default: {
        description: "An error: the code, a message and an ErrorInfo detail with the reason.",
        content: { "application/json": { schema: schemaRef("google.rpc.Status") } },
      },
    },
  };
  if (binding.body !== "") {
    const bodyField = method.input.fields.find((f) => f.name === binding.body);
    const schema = bodyField === undefined ? schemaRef(method.input.typeName) : fieldSchema(bodyField, schemas.collect);
    operation.requestBody = { required: true, content: { "application/json": { schema } } };
  }
  const auth = getOption(method, caller_auth);
  // Administrators present a bearer token too; who may call is in the description (from the proto).
  if (auth === CallerAuth.BEARER || auth === CallerAuth.ADMIN || auth === CallerAuth.PLATFORM_ADMIN)
    operation.security = [{ bearerAuth: [] }];
  if (auth === CallerAuth.BEARER_OPTIONAL) operation.security = [{ bearerAuth: [] }, {}];
  return operation;
}

/** Path variables, and query parameters for the scalar fields neither the path nor the body binds. */
function parameters(binding: HttpBinding, comments: ReadonlyMap<string, string>, schemas: Collector): Schema[] {
  const { method, template } = binding;
  const pathFields = new Set(template.variables.map((v) => v.split(".")[0]));
  const list: Schema[] = template.variables.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
  if (binding.body === "*") return list;
  for (const field of method.input.fields) {
    // A Timestamp is one value in a query (RFC 3339, as in proto3 JSON); other messages are not.
    const timestamp = field.fieldKind === "message" && field.message.typeName === "google.protobuf.Timestamp";
    if (
      pathFields.has(field.name) ||
      field.name === binding.body ||
      (field.fieldKind === "message" && !timestamp) ||
      field.fieldKind === "map"
    )
      continue;
    list.push({
      name: field.jsonName,
      in: "query",
      required: false,
      description: comments.get(`${method.input.typeName}.${field.name}`),
      schema: fieldSchema(field, schemas.collect),
    });
  }
  return list;
}
