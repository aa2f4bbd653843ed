/**
 * Real clients for the tests, each as another team would write it: a @grpc/grpc-js client that
 * loads the proto dynamically, and plain `fetch` speaking Connect's JSON protocol. Both answer in
 * one shape so a scenario can run over either transport; both record every password and token
 * they carry for the log check.
 */

import { join } from "node:path";
import { fromBinary, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { recordCode, recordRecoveryCode, recordSecret } from "./secrets.js";

export type CallResult =
  | { readonly ok: true; readonly response: Record<string, any> }
  | {
      readonly ok: false;
      readonly code: string;
      readonly reason: string | undefined;
      readonly message: string;
      readonly httpStatus?: number;
      /** The google.rpc.RetryInfo detail's delay, in ms, when the error carried one. */
      readonly retryDelayMs?: number;
      /** The HTTP `Retry-After` header, when the answer had one. */
      readonly retryAfter?: string;
    };

/** The response of a call that must succeed; throws with the code and reason otherwise. */
export function ok(result: CallResult): Record<string, any> {
  if (!result.ok) throw new Error(`expected success, got ${result.code} ${result.reason}: ${result.message}`);
  return result.response;
}

/** The failure of a call that must fail; throws with the response otherwise. */
export function failed(result: CallResult): Extract<CallResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.response)}`);
  return result;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface TestClient {
  readonly transport: "grpc" | "connect" | "rest";
  call(method: string, request?: object, headers?: Record<string, string>): Promise<CallResult>;
  close(): void;
}

const SECRET_FIELDS = [
  "password",
  "currentPassword",
  "newPassword",
  "token",
  "refreshToken",
  "accessToken",
  "mfaTicket",
  "secret",
  "otpauthUri",
];

function recordSecrets(value: object | undefined): void {
  if (value === undefined) return;
  const fields = value as Record<string, unknown>;
  for (const field of SECRET_FIELDS) {
    const secret = fields[field];
    if (typeof secret === "string") recordSecret(secret);
  }
  if (typeof fields.code === "string") recordCode(fields.code);
  if (typeof fields.recoveryCode === "string") recordRecoveryCode(fields.recoveryCode);
  if (Array.isArray(fields.recoveryCodes)) for (const code of fields.recoveryCodes) if (typeof code === "string") recordRecoveryCode(code);
  // ConfirmMfaEnrollment's tokens are a message of their own.
  if (typeof fields.tokens === "object" && fields.tokens !== null) recordSecrets(fields.tokens);
}

function recordHeaders(headers: Record<string, string>): void {
  const authorization = headers.authorization;
  if (authorization !== undefined) recordSecret(authorization.replace(/^Bearer\s+/i, ""));
}

const protoRoot = join(import.meta.dirname, "..", "..", "proto");
let packageDefinition: protoLoader.PackageDefinition | undefined;

export interface GrpcClientOptions {
  /** Insecure (h2c) by default; `grpc.credentials.createSsl(ca)` for a TLS port. */
  readonly credentials?: grpc.ChannelCredentials;
  /**
   * Record one secret in this many for the log check (default 1: all). A load of thousands of
   * calls samples, so that the check stays fast.
   */
  readonly recordOneIn?: number;
  /** Each call's deadline (default 20 s). */
  readonly deadlineMs?: number;
}

export function createGrpcClient(address: string, options: GrpcClientOptions = {}): TestClient {
  const recordOneIn = options.recordOneIn ?? 1;
  let calls = 0;
  const sampled = () => calls++ % recordOneIn === 0;
  packageDefinition ??= protoLoader.loadSync(join(protoRoot, "auth", "v1", "auth.proto"), {
    includeDirs: [protoRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(packageDefinition) as any;
  const client: grpc.Client & Record<string, (...args: any[]) => void> = new loaded.auth.v1.AuthService(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
  );
  return {
    transport: "grpc",
    call(method, request = {}, headers = {}) {
      const record = sampled();
      if (record) {
        recordSecrets(request);
        recordHeaders(headers);
      }
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
      return new Promise((resolve) => {
        client[method]!.call(
          client,
          request,
          metadata,
          { deadline: Date.now() + (options.deadlineMs ?? 20_000) },
          (error: grpc.ServiceError | null, response: any) => {
            if (error === null) {
              if (record) recordSecrets(response);
              resolve({ ok: true, response });
              return;
            }
            resolve({
              ok: false,
              code: grpc.status[error.code],
              reason: reasonFromGrpc(error.metadata),
              message: error.details,
              ...retryDelayOf(retryFromGrpc(error.metadata)),
            });
          },
        );
      });
    },
    close: () => client.close(),
  };
}

/** The ErrorInfo reason in a `grpc-status-details-bin` trailer, decoded as any gRPC client would. */
export function reasonFromGrpc(metadata: grpc.Metadata | undefined): string | undefined {
  const bin = metadata?.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Buffer)) return undefined;
  const status = fromBinary(StatusSchema, bin);
  for (const detail of status.details) {
    const info = anyUnpack(detail, ErrorInfoSchema);
    if (info !== undefined) return info.reason;
  }
  return undefined;
}

/** The RetryInfo delay (ms) in a `grpc-status-details-bin` trailer. */
export function retryFromGrpc(metadata: grpc.Metadata | undefined): number | undefined {
  const bin = metadata?.get("grpc-status-details-bin")[0];
  if (!(bin instanceof Buffer)) return undefined;
  for (const detail of fromBinary(StatusSchema, bin).details) {
    const info = anyUnpack(detail, RetryInfoSchema);
    if (info?.retryDelay !== undefined) return Number(info.retryDelay.seconds) * 1000 + info.retryDelay.nanos / 1e6;
  }
  return undefined;
}

/** The RetryInfo delay (ms) in a Connect JSON error body. */
export function retryFromConnectJson(body: any): number | undefined {
  for (const detail of body?.details ?? []) {
    if (detail.type !== "google.rpc.RetryInfo") continue;
    const delay = fromBinary(RetryInfoSchema, Buffer.from(detail.value, "base64")).retryDelay;
    if (delay !== undefined) return Number(delay.seconds) * 1000 + delay.nanos / 1e6;
  }
  return undefined;
}

/** The RetryInfo delay (ms) in a google.rpc.Status JSON body (`"retryDelay": "2.500s"`). */
export function retryFromStatusJson(body: any): number | undefined {
  const detail = (body?.details ?? []).find((d: any) => d["@type"] === "type.googleapis.com/google.rpc.RetryInfo");
  return detail === undefined ? undefined : Number.parseFloat(String(detail.retryDelay)) * 1000;
}

const retryDelayOf = (ms: number | undefined) => (ms === undefined ? {} : { retryDelayMs: ms });
const retryAfterOf = (response: Response) => {
  const header = response.headers.get("retry-after");
  return header === null ? {} : { retryAfter: header };
};

/** The ErrorInfo reason in a Connect JSON error body. */
export function reasonFromConnectJson(body: any): string | undefined {
  for (const detail of body?.details ?? []) {
    if (detail.type === "google.rpc.ErrorInfo") return fromBinary(ErrorInfoSchema, Buffer.from(detail.value, "base64")).reason;
  }
  return undefined;
}

export function createConnectClient(baseUrl: string): TestClient {
  return {
    transport: "connect",
    async call(method, request = {}, headers = {}) {
      recordSecrets(request);
      recordHeaders(headers);
      const response = await fetch(`${baseUrl}/${AuthService.typeName}/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(request),
      });
      const body = (await response.json()) as any;
      if (response.ok) {
        // Connect JSON leaves out default values; fill them in so results compare with gRPC's.
        const schema = AuthService.methods.find((m) => m.name === method)!.output;
        const full = toJson(schema, fromJson(schema, body as JsonValue), { alwaysEmitImplicit: true }) as Record<string, any>;
        recordSecrets(full);
        return { ok: true, response: full };
      }
      return {
        ok: false,
        code: String(body.code).toUpperCase(),
        reason: reasonFromConnectJson(body),
        message: body.message,
        httpStatus: response.status,
        ...retryDelayOf(retryFromConnectJson(body)),
        ...retryAfterOf(response),
      };
    },
    close: () => {},
  };
}

/**
 * The REST routes, written out by hand from docs/api.md rather than derived from the descriptors,
 * so that a gateway that read the rules wrongly cannot agree with its own test client.
 */
const restRoutes: Record<string, [verb: string, path: string]> = {
  Register: ["POST", "/v1/auth/register"],
  VerifyEmail: ["POST", "/v1/auth/verify-email"],
  ResendVerification: ["POST", "/v1/auth/resend-verification"],
  Login: ["POST", "/v1/auth/login"],
  Refresh: ["POST", "/v1/auth/refresh"],
  Logout: ["POST", "/v1/auth/logout"],
  Me: ["GET", "/v1/auth/me"],
  ChangePassword: ["POST", "/v1/auth/change-password"],
  RequestPasswordReset: ["POST", "/v1/auth/request-password-reset"],
  ResetPassword: ["POST", "/v1/auth/reset-password"],
  ListSessions: ["GET", "/v1/auth/sessions"],
  RevokeSession: ["DELETE", "/v1/auth/sessions/{sessionId}"],
  ValidateToken: ["POST", "/v1/auth/validate-token"],
  VerifyMfa: ["POST", "/v1/auth/mfa/verify"],
  BeginMfaEnrollment: ["POST", "/v1/auth/mfa/totp/begin"],
  ConfirmMfaEnrollment: ["POST", "/v1/auth/mfa/totp/confirm"],
  RegenerateRecoveryCodes: ["POST", "/v1/auth/mfa/recovery-codes"],
  DisableMfa: ["POST", "/v1/auth/mfa/disable"],
  GetMfaStatus: ["GET", "/v1/auth/mfa"],
};

/** The ErrorInfo reason in a REST error body (a google.rpc.Status in proto3 JSON). */
export function reasonFromStatusJson(body: any): string | undefined {
  return (body?.details ?? []).find((d: any) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo")?.reason;
}

export function createRestClient(baseUrl: string): TestClient {
  return {
    transport: "rest",
    async call(method, request = {}, headers = {}) {
      recordSecrets(request);
      recordHeaders(headers);
      const route = restRoutes[method];
      if (route === undefined) throw new Error(`no REST route for ${method} in the test client`);
      const [verb, template] = route;
      const fields = { ...(request as Record<string, unknown>) };
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
        const value = String(fields[name] ?? "");
        delete fields[name];
        return encodeURIComponent(value);
      });
      const query = verb === "GET" || verb === "DELETE" ? `?${new URLSearchParams(fields as Record<string, string>)}` : "";
      let response: Response;
      try {
        response = await fetch(`${baseUrl}${path}${query === "?" ? "" : query}`, {
          method: verb,
          headers: verb === "GET" || verb === "DELETE" ? headers : { "content-type": "application/json", ...headers },
          body: verb === "GET" || verb === "DELETE" ? undefined : JSON.stringify(fields),
        });
      } catch (error) {
        // No answer at all (refused, reset): what Connect and gRPC clients report as UNAVAILABLE.
        return { ok: false, code: "UNAVAILABLE", reason: undefined, message: String((error as Error).cause ?? error) };
      }
      const body = (await response.json()) as any;
      if (response.ok) {
        recordSecrets(body);
        return { ok: true, response: body };
      }
      return {
        ok: false,
        code: grpc.status[body.code] ?? String(body.code),
        reason: reasonFromStatusJson(body),
        message: body.message,
        httpStatus: response.status,
        ...retryDelayOf(retryFromStatusJson(body)),
        ...retryAfterOf(response),
      };
    },
    close: () => {},
  };
}

/** Every transport, for `describe.each`. */
export const transports: readonly { name: string; connect: (app: { grpcAddress: string; baseUrl: string }) => TestClient }[] = [
  { name: "gRPC (grpc-js)", connect: (app) => createGrpcClient(app.grpcAddress) },
  { name: "Connect JSON (fetch)", connect: (app) => createConnectClient(app.baseUrl) },
  { name: "REST (fetch)", connect: (app) => createRestClient(app.baseUrl) },
];
