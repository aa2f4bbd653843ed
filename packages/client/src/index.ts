/**
 * The `authward-client` package, what other teams import: `createAuthClient` for apps (tokens kept fresh,
 * single-flight refresh), offline verification of our access tokens and a Connect interceptor
 * built on it for services, and the generated AuthService.
 */
export { type AuthClient, type AuthClientOptions, type AuthTokens, createAuthClient, MfaRequiredError } from "./auth-client.js";
export { AuthService, InactiveReason } from "./gen/auth/v1/auth_pb.js";
export { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
export { type AccessTokenInterceptorOptions, accessTokenInterceptor, kAccessToken } from "./interceptor.js";
export {
  AccessTokenError,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
  type VerifiedAccessToken,
} from "./verifier.js";
