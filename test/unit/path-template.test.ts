import { describe, expect, it } from "vitest";
import { parsePathTemplate } from "../../src/transport/rest/path-template.js";

describe("google.api.http path templates", () => {
  it("matches literals exactly", () => {
    const t = parsePathTemplate("/v1/auth/me");
    expect(t.match("/v1/auth/me")).toEqual({});
    expect(t.match("/v1/auth/me/")).toBeUndefined();
    expect(t.match("/v1/auth")).toBeUndefined();
    expect(t.variables).toEqual([]);
  });

  it("binds a variable to one segment, decoded", () => {
    const t = parsePathTemplate("/v1/auth/sessions/{session_id}");
    expect(t.match("/v1/auth/sessions/abc%2Fdef")).toEqual({ session_id: "abc/def" });
    expect(t.match("/v1/auth/sessions/")).toBeUndefined();
    expect(t.match("/v1/auth/sessions/a/b")).toBeUndefined();
    expect(t.match("/v1/auth/sessions/%E0%A4%A")).toBeUndefined();
    expect(t.openApiPath).toBe("/v1/auth/sessions/{session_id}");
  });

  it("binds multi-segment patterns, ** and a custom verb", () => {
    expect(parsePathTemplate("/v1/{name=tenants/*/users/*}").match("/v1/tenants/acme/users/42")).toEqual({ name: "tenants/acme/users/42" });
    expect(parsePathTemplate("/v1/files/{path=**}").match("/v1/files/a/b/c")).toEqual({ path: "a/b/c" });
    const verb = parsePathTemplate("/v1/users/{user_id}:disable");
    expect(verb.match("/v1/users/7:disable")).toEqual({ user_id: "7" });
    expect(verb.match("/v1/users/7")).toBeUndefined();
    expect(verb.openApiPath).toBe("/v1/users/{user_id}:disable");
  });
});
