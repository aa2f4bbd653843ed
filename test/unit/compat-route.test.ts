/**
 * The seed routes' constructor: a call carries its seed API in the request context, and the rest
 * of the context is handed on as the envelope built it (the client address, worked out only when
 * a flow reads it, stays unread when no flow does).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import type { RequestContext } from "../../src/domain/model.js";
import { statusFormat } from "../../src/transport/http/errors.js";
import type { Exchange } from "../../src/transport/http/router.js";
import { compatRoute } from "../../src/transport/rest/compat/common.js";

/** An exchange whose context counts how often its client address is worked out. */
function exchangeCountingIp(): { exchange: Exchange; reads: () => number } {
  let reads = 0;
  const ctx: RequestContext = {
    tenantHeader: "acme",
    credential: { kind: "none" },
    get ip() {
      reads++;
      return "203.0.113.7";
    },
    userAgent: "test",
  };
  const exchange: Exchange = {
    req: {} as IncomingMessage,
    res: {} as ServerResponse,
    url: new URL("http://localhost/api/v1/auth/me"),
    params: {},
    ctx,
  };
  return { exchange, reads: () => reads };
}

const doc = { api: { name: "vigia", description: "Vigía" }, summary: "Me", answer: {} };

describe("compatRoute", () => {
  it("adds the seed API to the context without working out the client address", async () => {
    const { exchange, reads } = exchangeCountingIp();
    let seen: RequestContext | undefined;
    const route = compatRoute(
      "vigia",
      "GET",
      "/api/v1/auth/me",
      "compat.vigia.me",
      async ({ ctx }) => {
        seen = ctx;
      },
      statusFormat,
      doc,
    );
    await route.handle(exchange);
    expect(reads()).toBe(0);
    expect(seen?.api).toBe("vigia");
    expect([seen?.tenantHeader, seen?.userAgent, seen?.credential]).toEqual(["acme", "test", { kind: "none" }]);
    // Read when a flow asks, from the envelope's own getter.
    expect(seen?.ip).toBe("203.0.113.7");
    expect(reads()).toBe(1);
  });
});
