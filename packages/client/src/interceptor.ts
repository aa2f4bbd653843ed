/**
 * A Connect server interceptor for other teams' services: verifies the caller's bearer token with
 * an AccessTokenVerifier and hands the claims to handlers through `kAccessToken`:
 *
 *   connectNodeAdapter({ routes, interceptors: [accessTokenInterceptor(verifier)] })
 *   // in a handler: const caller = context.values.get(kAccessToken)
 *
 * A refused token is UNAUTHENTICATED (PERMISSION_DENIED for a disabled user) with the same
 * ErrorInfo reason the auth service would send.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { AccessTokenError, type AccessTokenVerifier, type VerifiedAccessToken } from "./verifier.js";

export const kAccessToken = createContextKey<VerifiedAccessToken | undefined>(undefined, { description: "verified access token" });

export interface AccessTokenInterceptorOptions {
  /** Let calls without an authorization header through (handlers see no claims); default false. */
  readonly optional?: boolean;
}

function unauthenticated(reason: AccessTokenError["reason"], message: string): ConnectError {
  // As the auth service answers: a disabled user is known, just not allowed.
  const code = reason === "ACCOUNT_DISABLED" ? Code.PermissionDenied : Code.Unauthenticated;
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: "auth.v1" }) },
  ]);
}

export function accessTokenInterceptor(verifier: AccessTokenVerifier, options: AccessTokenInterceptorOptions = {}): Interceptor {
  return (next) => async (req) => {
    const header = req.header.get("authorization");
    if (header === null) {
      if (options.optional) return next(req);
      throw unauthenticated("TOKEN_MISSING", "no bearer token was sent");
    }
    const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
    if (token === undefined) throw unauthenticated("TOKEN_INVALID", "the authorization header must be 'Bearer <token>'");
    try {
      req.contextValues.set(kAccessToken, await verifier.verify(token));
    } catch (error) {
      if (error instanceof AccessTokenError) throw unauthenticated(error.reason, error.message);
      // The auth service or its JWKS cannot be reached: not the caller's fault.
      throw new ConnectError("cannot verify the access token now", Code.Unavailable, undefined, undefined, error);
    }
    return next(req);
  };
}
