import { create, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthError, type AuthErrorReason, reasonCatalog } from "../../src/domain/errors.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { codeOf, statusDetailsBin, toConnectError } from "../../src/transport/errors.js";
import { errorHeaders, statusJson } from "../../src/transport/http/errors.js";
import { solicitudErrors } from "../../src/transport/rest/compat/solicitud.js";

const reasons = Object.keys(reasonCatalog) as AuthErrorReason[];

describe("the error mapping", () => {
  it.each([
    ["WEAK_PASSWORD", Code.InvalidArgument],
    ["REQUEST_TOO_LARGE", Code.InvalidArgument],
    ["EMAIL_TAKEN", Code.AlreadyExists],
    ["INVALID_CREDENTIALS", Code.Unauthenticated],
    ["TOKEN_REUSED", Code.Unauthenticated],
    ["ACCOUNT_DISABLED", Code.PermissionDenied],
    ["TENANT_NOT_FOUND", Code.NotFound],
    ["TOKEN_USED", Code.FailedPrecondition],
    ["ADMIN_REQUIRED", Code.PermissionDenied],
    ["USER_NOT_FOUND", Code.NotFound],
    ["RATE_LIMITED", Code.ResourceExhausted],
    ["ACCOUNT_LOCKED", Code.ResourceExhausted],
    ["UNAVAILABLE", Code.Unavailable],
    ["INTERNAL", Code.Internal],
  ] as const)("maps %s to %s", (reason, code) => expect(codeOf(new AuthError(reason))).toBe(code));

  it("lets a flow override the category (a one-time token failure is a precondition)", () => {
    expect(codeOf(new AuthError("TOKEN_EXPIRED", { category: "precondition" }))).toBe(Code.FailedPrecondition);
  });

  it.each(reasons)("sends %s as an ErrorInfo detail over Connect, with a SCREAMING_SNAKE reason", (reason) => {
    const error = toConnectError(new AuthError(reason));
    expect(reason).toMatch(/^[A-Z][A-Z0-9_]+[A-Z0-9]$/);
    const [info] = error.findDetails(ErrorInfoSchema);
    expect(info).toMatchObject({ reason, domain: "auth.v1" });
    expect(error.rawMessage).toBe(reasonCatalog[reason][1]);
  });

  it("keeps internal causes out of what callers receive", () => {
    const cause = new Error("relation users does not exist at db-primary-3:5432");
    const error = toConnectError(cause);
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("Internal error.");
    expect(error.message).not.toContain("db-primary");
    expect(error.cause).toBe(cause);
  });

  it("passes Connect's own protocol errors through", () => {
    const protocol = new ConnectError("bad envelope", Code.InvalidArgument);
    expect(toConnectError(protocol)).toBe(protocol);
  });

  it("carries a limit's wait as a RetryInfo detail on gRPC, Connect and the gateway, and as Retry-After on HTTP", () => {
    const limited = new AuthError("ACCOUNT_LOCKED", { retryAfterMs: 61_250, metadata: { limit: "account_address" } });
    const status = fromBinary(StatusSchema, statusDetailsBin(limited));
    const retry = anyUnpack(status.details[1]!, RetryInfoSchema);
    expect([retry?.retryDelay?.seconds, retry?.retryDelay?.nanos]).toEqual([61n, 250_000_000]);
    expect(toConnectError(limited).findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(61n);
    expect(statusJson(Code.ResourceExhausted, limited.message, limited)).toMatchObject({
      details: [{ reason: "ACCOUNT_LOCKED" }, { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "61.250s" }],
    });
    expect(errorHeaders(limited, 429)).toEqual({ "retry-after": "62" });
    expect(errorHeaders(new AuthError("RATE_LIMITED", { retryAfterMs: 10 }), 429)).toEqual({ "retry-after": "1" });
    // Nothing else carries one.
    expect(fromBinary(StatusSchema, statusDetailsBin(new AuthError("INVALID_CREDENTIALS"))).details).toHaveLength(1);
    expect(errorHeaders(new AuthError("UNAVAILABLE"), 503)).toEqual({});
  });

  it("builds a google.rpc.Status for the grpc-status-details-bin trailer", () => {
    const bin = statusDetailsBin(new AuthError("WEAK_PASSWORD", { message: "password: too short", metadata: { field: "password" } }));
    const status = fromBinary(StatusSchema, bin);
    expect(status.code).toBe(Code.InvalidArgument);
    expect(status.message).toBe("password: too short");
    const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
    expect(info).toEqual(create(ErrorInfoSchema, { reason: "WEAK_PASSWORD", domain: "auth.v1", metadata: { field: "password" } }));
  });
});

describe("Solicitud Transporte's error table", () => {
  // Every reason: its status, and the table's mensaje for that status where the table has one.
  const table: Record<number, readonly string[]> = {
    401: ["Token no proporcionado", "Token inválido", "Token expirado"],
    403: ["Permisos insuficientes"],
    422: ["Credenciales inválidas"],
    429: ["Demasiadas solicitudes"],
  };

  it.each([
    ["TOKEN_MISSING", 401, "Token no proporcionado"],
    ["TOKEN_INVALID", 401, "Token inválido"],
    ["TOKEN_REUSED", 401, "Token inválido"],
    ["TOKEN_EXPIRED", 401, "Token expirado"],
    ["SESSION_REVOKED", 401, "Token expirado"],
    ["ACCOUNT_DISABLED", 403, "Permisos insuficientes"],
    ["NO_ROLES", 403, "Permisos insuficientes"],
    ["INVALID_CREDENTIALS", 422, "Credenciales inválidas"],
    ["INVALID_REQUEST", 422, "Credenciales inválidas"],
    ["RATE_LIMITED", 429, "Demasiadas solicitudes"],
  ] as const)("writes %s as %i {exito: false, mensaje: %s, detalle}", (reason, status, mensaje) => {
    const error = new AuthError(reason);
    const written = solicitudErrors.status?.(error);
    expect(written).toBe(status);
    expect(solicitudErrors.body(error, status)).toEqual({ exito: false, mensaje, detalle: expect.any(String), reason });
  });

  // The MFA step's own answers (the table predates it): what is asked, not a generic refusal.
  const secondStep = new Set(["MFA_REQUIRED", "MFA_ENROLLMENT_REQUIRED", "MFA_CODE_INVALID"]);

  it("gives every reason the table's mensaje for its status, whatever reason lands later (but the MFA step's own)", () => {
    for (const reason of reasons.filter((r) => !secondStep.has(r))) {
      const error = new AuthError(reason);
      const status = solicitudErrors.status?.(error) ?? 0;
      const { mensaje, detalle } = solicitudErrors.body(error, status) as { mensaje: string; detalle: string };
      if (table[status] !== undefined) expect([reason, table[status]?.includes(mensaje)]).toEqual([reason, true]);
      expect(detalle).not.toBe("");
    }
  });
});
