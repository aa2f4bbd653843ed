/**
 * The server's metadata, served at `/.well-known/oauth-authorization-server` (RFC 8414) and at
 * `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0): one document listing only
 * what this service really does, so that a library reading it finds the issuer, the keys and the
 * token endpoint, and is told nothing that would fail.
 *
 * What is deliberately absent, and why:
 * - `authorization_endpoint`, PKCE (`code_challenge_methods_supported`): there is no authorization
 *   endpoint (no code or implicit flow); `response_types_supported`, REQUIRED by both
 *   specifications, is therefore the empty list, the one truthful value.
 * - `id_token_signing_alg_values_supported`, `subject_types_supported`, `userinfo_endpoint`: the
 *   service issues access and refresh tokens, never ID tokens, and has no UserInfo endpoint
 *   (Me is not OpenID's shape). OpenID relying parties cannot sign users in through it; resource
 *   servers that find the JWKS through this document (most JWT middleware does) work.
 * - `revocation_endpoint`, `introspection_endpoint`: Logout is not RFC 7009's shape (it takes the
 *   access token as a bearer credential and ends a session) and ValidateToken is not RFC 7662's
 *   (JSON, claims under `claims`, a service credential), so neither is listed.
 * - `scopes_supported`: tokens carry roles, not scopes.
 */
import { DOCS_PATH } from "./docs.js";
import { TOKEN_ENDPOINT_PATH, TOKEN_GRANT_TYPES } from "./oauth-token.js";

export const DISCOVERY_PATHS = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] as const;
export const JWKS_PATH = "/.well-known/jwks.json";

export interface DiscoveryFacts {
  /** The `iss` of every token (JWT_ISSUER, by default PUBLIC_URL). */
  readonly issuer: string;
  /** PUBLIC_URL: where clients reach the HTTP port, without a trailing slash. */
  readonly publicUrl: string;
}

/** The metadata document, the same at both well-known paths. */
export function serverMetadata({ issuer, publicUrl }: DiscoveryFacts): Readonly<Record<string, unknown>> {
  return Object.freeze({
    issuer,
    jwks_uri: `${publicUrl}${JWKS_PATH}`,
    token_endpoint: `${publicUrl}${TOKEN_ENDPOINT_PATH}`,
    grant_types_supported: [...TOKEN_GRANT_TYPES],
    // First-party public clients: the token endpoint authenticates the user, not the client.
    token_endpoint_auth_methods_supported: ["none"],
    response_types_supported: [],
    service_documentation: `${publicUrl}${DOCS_PATH}`,
  });
}
