/**
 * Clients of the AdminService over the three transports, each answering in proto3 JSON so that
 * one table of expectations serves all three: gRPC through a plain grpc-js generic client (the
 * messages encoded with protobuf-es, since proto-loader has no JSON mapping for
 * google.protobuf.Struct), Connect JSON and REST through fetch. The REST routes are written out by
 * hand from docs/api.md, so that a gateway that misread the proto cannot agree with its own test.
 */
import { type DescMethod, fromBinary, fromJson, type JsonValue, toBinary, toJson } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "../../src/gen/auth/admin/v1/admin_pb.js";
import { type CallResult, reasonFromConnectJson, reasonFromGrpc, reasonFromStatusJson, type TestClient } from "./clients.js";
import { recordSecret } from "./secrets.js";

/** `[verb, path]`; `{field}` is the request field (lowerCamelCase) that fills the segment. */
export const adminRestRoutes: Record<string, [verb: string, path: string]> = {
  CreateTenant: ["POST", "/v1/admin/tenants"],
  GetTenant: ["GET", "/v1/admin/tenants/{tenant}"],
  ListTenants: ["GET", "/v1/admin/tenants"],
  UpdateTenant: ["PATCH", "/v1/admin/tenants/{tenant}"],
  DisableTenant: ["POST", "/v1/admin/tenants/{tenant}/disable"],
  EnableTenant: ["POST", "/v1/admin/tenants/{tenant}/enable"],
  CreateUser: ["POST", "/v1/admin/tenants/{tenant}/users"],
  GetUser: ["GET", "/v1/admin/tenants/{tenant}/users/{userId}"],
  ListUsers: ["GET", "/v1/admin/tenants/{tenant}/users"],
  UpdateUser: ["PATCH", "/v1/admin/tenants/{tenant}/users/{userId}"],
  DisableUser: ["POST", "/v1/admin/tenants/{tenant}/users/{userId}/disable"],
  EnableUser: ["POST", "/v1/admin/tenants/{tenant}/users/{userId}/enable"],
  DeleteUser: ["DELETE", "/v1/admin/tenants/{tenant}/users/{userId}"],
  SetUserRoles: ["PUT", "/v1/admin/tenants/{tenant}/users/{userId}/roles"],
  EndUserSessions: ["POST", "/v1/admin/tenants/{tenant}/users/{userId}/end-sessions"],
  UnlockUser: ["POST", "/v1/admin/tenants/{tenant}/users/{userId}/unlock"],
  ResetUserMfa: ["POST", "/v1/admin/tenants/{tenant}/users/{userId}/reset-mfa"],
  CreateRole: ["POST", "/v1/admin/tenants/{tenant}/roles"],
  ListRoles: ["GET", "/v1/admin/tenants/{tenant}/roles"],
  UpdateRole: ["PATCH", "/v1/admin/tenants/{tenant}/roles/{name}"],
  DeleteRole: ["DELETE", "/v1/admin/tenants/{tenant}/roles/{name}"],
  ListAuditEvents: ["GET", "/v1/admin/tenants/{tenant}/audit-events"],
};

function methodNamed(name: string): DescMethod {
  const method = AdminService.methods.find((m) => m.name === name);
  if (method === undefined) throw new Error(`AdminService has no ${name}`);
  return method;
}

/** A response in proto3 JSON with every field present, whatever the transport sent. */
function full(method: DescMethod, json: unknown): Record<string, any> {
  return toJson(method.output, fromJson(method.output, json as JsonValue), { alwaysEmitImplicit: true }) as Record<string, any>;
}

function record(request: object, headers: Record<string, string>): void {
  const password = (request as { password?: unknown }).password;
  if (typeof password === "string") recordSecret(password);
  if (headers.authorization !== undefined) recordSecret(headers.authorization.replace(/^Bearer\s+/i, ""));
}

export function createAdminGrpcClient(address: string): TestClient {
  const definition: Record<string, grpc.MethodDefinition<JsonValue, unknown>> = {};
  for (const method of AdminService.methods) {
    definition[method.name] = {
      path: `/${AdminService.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (json: JsonValue) => Buffer.from(toBinary(method.input, fromJson(method.input, json))),
      // A client never deserializes requests nor serializes responses.
      requestDeserialize: () => {
        throw new Error("client only");
      },
      responseSerialize: () => {
        throw new Error("client only");
      },
      responseDeserialize: (bytes: Buffer) => toJson(method.output, fromBinary(method.output, bytes), { alwaysEmitImplicit: true }),
    };
  }
  const Client = grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, "AdminService");
  const client = new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...args: any[]) => void>;
  return {
    transport: "grpc",
    call(method, request = {}, headers = {}) {
      record(request, headers);
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
      return new Promise<CallResult>((resolve) => {
        client[method]!.call(
          client,
          request,
          metadata,
          { deadline: Date.now() + 20_000 },
          (error: grpc.ServiceError | null, response: any) => {
            if (error === null) resolve({ ok: true, response });
            else resolve({ ok: false, code: grpc.status[error.code], reason: reasonFromGrpc(error.metadata), message: error.details });
          },
        );
      });
    },
    close: () => client.close(),
  };
}

export function createAdminConnectClient(baseUrl: string): TestClient {
  return {
    transport: "connect",
    async call(name, request = {}, headers = {}) {
      record(request, headers);
      const response = await fetch(`${baseUrl}/${AdminService.typeName}/${name}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(request),
      });
      const body = (await response.json()) as any;
      if (response.ok) return { ok: true, response: full(methodNamed(name), body) };
      return {
        ok: false,
        code: String(body.code).toUpperCase(),
        reason: reasonFromConnectJson(body),
        message: body.message,
        httpStatus: response.status,
      };
    },
    close: () => {},
  };
}

export function createAdminRestClient(baseUrl: string): TestClient {
  return {
    transport: "rest",
    async call(name, request = {}, headers = {}) {
      record(request, headers);
      const route = adminRestRoutes[name];
      if (route === undefined) throw new Error(`no REST route for ${name} in the test client`);
      const [verb, template] = route;
      const fields = { ...(request as Record<string, unknown>) };
      const path = template.replace(/\{(\w+)\}/g, (_, field: string) => {
        const value = String(fields[field] ?? "");
        delete fields[field];
        return encodeURIComponent(value);
      });
      const bodyless = verb === "GET" || verb === "DELETE";
      const query = new URLSearchParams();
      if (bodyless)
        for (const [key, value] of Object.entries(fields)) query.set(key, typeof value === "string" ? value : JSON.stringify(value));
      const response = await fetch(`${baseUrl}${path}${query.size > 0 ? `?${query}` : ""}`, {
        method: verb,
        headers: bodyless ? headers : { "content-type": "application/json", ...headers },
        body: bodyless ? undefined : JSON.stringify(fields),
      });
      const text = await response.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        return { ok: false, code: `HTTP ${response.status}`, reason: undefined, message: text.slice(0, 200), httpStatus: response.status };
      }
      if (response.ok) return { ok: true, response: full(methodNamed(name), body) };
      return {
        ok: false,
        code: grpc.status[body.code] ?? String(body.code),
        reason: reasonFromStatusJson(body),
        message: body.message,
        httpStatus: response.status,
      };
    },
    close: () => {},
  };
}

/** The AdminService over every transport, for `describe.each`. */
export const adminTransports: readonly { name: string; connect: (app: { grpcAddress: string; baseUrl: string }) => TestClient }[] = [
  { name: "gRPC", connect: (app) => createAdminGrpcClient(app.grpcAddress) },
  { name: "Connect", connect: (app) => createAdminConnectClient(app.baseUrl) },
  { name: "REST", connect: (app) => createAdminRestClient(app.baseUrl) },
];
