/**
 * What other teams import (`auth-service/client`): offline verification of our access tokens and
 * a Connect interceptor built on it, plus the generated AuthService to call the service itself.
 */
export { AuthService, InactiveReason } from "../gen/auth/v1/auth_pb.js";
export { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
export { type AccessTokenInterceptorOptions, accessTokenInterceptor, kAccessToken } from "./interceptor.js";
export {
  AccessTokenError,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
  type VerifiedAccessToken,
} from "./verifier.js";
