/**
 * The discovery documents (RFC 8414's `/.well-known/oauth-authorization-server` and OpenID's
 * `/.well-known/openid-configuration`) hold to what the service answers: every field is checked
 * against a real call (the issuer signs the tokens, the JWKS verifies them, the token endpoint takes
 * exactly the listed grants and no others, the documentation is served), nothing listed 404s, and
 * nothing is listed that the service lacks (an exact set of fields).
 */
import { randomBytes } from "node:crypto";
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

const FIELDS = [
  "issuer",
  "jwks_uri",
  "token_endpoint",
  "grant_types_supported",
  "token_endpoint_auth_methods_supported",
  "response_types_supported",
  "service_documentation",
];

/** Grant types a client might try; each must be listed if and only if the token endpoint takes it. */
const KNOWN_GRANTS = [
  "password",
  "refresh_token",
  "authorization_code",
  "client_credentials",
  "urn:ietf:params:oauth:grant-type:device_code",
  "urn:ietf:params:oauth:grant-type:jwt-bearer",
  "urn:ietf:params:oauth:grant-type:token-exchange",
  "http://auth0.com/oauth/grant-type/mfa-otp",
  "http://auth0.com/oauth/grant-type/mfa-oob",
  "http://auth0.com/oauth/grant-type/mfa-recovery-code",
];

describe("discovery documents", () => {
  let app: TestApp;
  const email = `discovery.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();
  const documents: Record<string, Record<string, unknown>> = {};

  /** A URL of the metadata, fetched from this test's server: it must be under PUBLIC_URL. */
  const local = (url: unknown): string => {
    expect(typeof url).toBe("string");
    const text = url as string;
    expect(text.startsWith(`${app.config.publicUrl}/`), text).toBe(true);
    return `${app.baseUrl}${text.slice(app.config.publicUrl.length)}`;
  };
  const token = (form: Record<string, string>, metadata = documents.oauth!) =>
    fetch(local(metadata.token_endpoint), { method: "POST", body: new URLSearchParams(form) });

  beforeAll(async () => {
    app = await startTestApp({ name: "discovery" });
    const grpc = createGrpcClient(app.grpcAddress);
    expect(await grpc.call("Register", { email, password })).toMatchObject({ ok: true });
    grpc.close();
    for (const [name, path] of [
      ["oauth", "/.well-known/oauth-authorization-server"],
      ["openid", "/.well-known/openid-configuration"],
    ] as const) {
      const response = await fetch(`${app.baseUrl}${path}`);
      expect(response.status).toBe(200);
      // Cached like the JWKS it names.
      expect(response.headers.get("cache-control")).toBe("public, max-age=300");
      documents[name] = (await response.json()) as Record<string, unknown>;
    }
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it("lists exactly the supported fields, the same in both documents", () => {
    expect(Object.keys(documents.oauth!).sort()).toEqual([...FIELDS].sort());
    expect(documents.openid).toEqual(documents.oauth);
    expect(documents.oauth!.token_endpoint_auth_methods_supported).toEqual(["none"]);
    // No authorization endpoint, so no response type: the one truthful value of a required field.
    expect(documents.oauth!.response_types_supported).toEqual([]);
  });

  it("names the issuer of the tokens the endpoint issues, and a JWKS that verifies them", async () => {
    const response = await token({ grant_type: "password", username: email, password });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    expect(decodeJwt(access_token).iss).toBe(documents.oauth!.issuer);
    const jwks = (await (await fetch(local(documents.oauth!.jwks_uri))).json()) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThan(0);
    const { payload } = await jwtVerify(access_token, createLocalJWKSet(jwks), { issuer: documents.oauth!.issuer as string });
    expect(payload.email).toBe(email);
  });

  it("lists a grant type if and only if the token endpoint (with no client authentication) takes it", async () => {
    const listed = documents.oauth!.grant_types_supported as string[];
    expect(listed).toEqual(expect.arrayContaining(["password", "refresh_token"]));
    // Each listed grant works end to end without client credentials ("none").
    const first = await token({ grant_type: "password", username: email, password });
    expect(first.status).toBe(200);
    const { refresh_token } = (await first.json()) as { refresh_token: string };
    const refreshed = await token({ grant_type: "refresh_token", refresh_token });
    expect(refreshed.status).toBe(200);
    for (const grant of KNOWN_GRANTS) {
      const response = await token({ grant_type: grant });
      const body = (await response.json()) as { error: string };
      if (listed.includes(grant)) expect(body.error, grant).not.toBe("unsupported_grant_type");
      else expect(body, grant).toMatchObject({ error: "unsupported_grant_type" });
    }
    for (const grant of listed) expect(KNOWN_GRANTS, `${grant}: add it to this test's list`).toContain(grant);
  });

  it("serves every URL it lists, and nothing at the endpoints it leaves out", async () => {
    for (const field of ["jwks_uri", "service_documentation"]) {
      const response = await fetch(local(documents.oauth![field]));
      expect(response.status, field).toBe(200);
    }
    expect((await fetch(local(documents.oauth!.service_documentation))).headers.get("content-type")).toContain("text/html");
    // The token endpoint answers POST (a GET is refused by method, not a missing route).
    expect((await fetch(local(documents.oauth!.token_endpoint))).status).toBe(405);
    for (const absent of ["/authorize", "/oauth/authorize", "/userinfo", "/v1/auth/introspect", "/v1/auth/revoke"]) {
      expect((await fetch(`${app.baseUrl}${absent}`)).status, absent).toBe(404);
    }
  });
});
