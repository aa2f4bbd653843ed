/**
 * The order of a change's steps (domain/changes.ts): the Redis step, the PostgreSQL write, the
 * Redis step again, on fakes that record each call. The real stores are in
 * test/e2e/refresh-user-copy.test.ts.
 */
import { describe, expect, it } from "vitest";
import { changeTenant, changeUser } from "../../src/domain/changes.js";
import { AuthError } from "../../src/domain/errors.js";
import type { AuthDeps } from "../../src/domain/ports.js";

function recordingDeps(failing: (call: string) => boolean = () => false) {
  const calls: string[] = [];
  const step = (call: string) => async () => {
    calls.push(call);
    if (failing(call)) throw new AuthError("UNAVAILABLE");
  };
  const deps = {
    sessions: { userChanged: step("copy"), tenantChanged: step("generation") },
    grants: { changed: step("grants") },
  } as unknown as Pick<AuthDeps, "sessions" | "grants">;
  const write = async () => {
    calls.push("write");
    return "written";
  };
  return { deps, calls, write };
}

const user = { tenant: "acme", userId: "0b7e4c1e-8f7e-4f57-9a4b-2f1b7d1f5a11" };

describe("a change to a user or a tenant", () => {
  it("moves the user's mark before the write and again after it, then forgets the grants", async () => {
    const { deps, calls, write } = recordingDeps();
    expect(await changeUser(deps, user, write)).toBe("written");
    expect(calls).toEqual(["copy", "write", "copy", "grants"]);
  });

  it("moves the tenant's generation before the write and again after it, then forgets the grants", async () => {
    const { deps, calls, write } = recordingDeps();
    expect(await changeTenant(deps, "acme", write)).toBe("written");
    expect(calls).toEqual(["generation", "write", "generation", "grants"]);
  });

  it("writes nothing when the step before fails (UNAVAILABLE)", async () => {
    const { deps, calls, write } = recordingDeps((call) => call === "copy" || call === "generation");
    await expect(changeUser(deps, user, write)).rejects.toMatchObject({ reason: "UNAVAILABLE" });
    await expect(changeTenant(deps, "acme", write)).rejects.toMatchObject({ reason: "UNAVAILABLE" });
    expect(calls).toEqual(["copy", "generation"]);
  });

  it("runs no step after a write that failed", async () => {
    const { deps, calls } = recordingDeps();
    const failing = async () => {
      calls.push("write");
      throw new AuthError("USER_NOT_FOUND");
    };
    await expect(changeUser(deps, user, failing)).rejects.toMatchObject({ reason: "USER_NOT_FOUND" });
    expect(calls).toEqual(["copy", "write"]);
  });
});
