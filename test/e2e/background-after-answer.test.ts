/**
 * Work an existing account causes (the reset token and its mail, the verification mail) starts
 * only after the answer was written, on every transport, so that it cannot make answers about
 * existing accounts slower than answers about unknown ones. Checked by the order of events seen
 * on the server (never by a clock): the HTTP server's own "response finished" event
 * (node:diagnostics_channel), and for gRPC the call's log line, which grpc-js's answer follows.
 */
import { randomBytes } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OneTimeTokens } from "../../src/domain/ports.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { ok, transports } from "../support/clients.js";
import { createTestSmtp, type TestSmtp } from "../support/smtp.js";

describe("background work after the answer", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  /** What happened, in order: `answer written <request id>`, `background <request id>`. */
  const events: string[] = [];
  const onHttpFinish = (message: unknown) => {
    const { request } = message as { request: IncomingMessage };
    events.push(`answer written ${request.headers["x-request-id"]}`);
  };
  /** The request whose background work is expected next. */
  let current = "";

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "after-answer", env: { SMTP_URL: smtp.url } });
    diagnostics.subscribe("http.server.response.finish", onHttpFinish);
    // Both mail flows start by issuing a token: record when, and what the server had done by then.
    const tokens = app.app.deps.oneTimeTokens as { -readonly [K in keyof OneTimeTokens]: OneTimeTokens[K] };
    const issue = tokens.issue.bind(tokens);
    tokens.issue = async (token) => {
      const log = readFileSync(app.logFile, "utf8");
      const callEnded = log.split("\n").some((line) => line.includes(`"requestId":"${current}"`) && line.includes('"msg":"call ok"'));
      events.push(`background ${current}${callEnded ? "" : " (before the call ended)"}`);
      return issue(token);
    };
  });
  afterAll(async () => {
    diagnostics.unsubscribe("http.server.response.finish", onHttpFinish);
    await app?.stop();
    await smtp?.stop();
  });

  for (const transport of transports) {
    it(`starts a reset's and a verification's mail work after the answer over ${transport.name}`, async () => {
      const client = transport.connect(app);
      const viaHttp = client.transport !== "grpc";
      try {
        const email = `after.${randomBytes(4).toString("hex")}@example.com`;
        current = `register-${randomBytes(4).toString("hex")}`;
        ok(await client.call("Register", { email, password: "a long enough password" }, { "x-request-id": current }));
        await smtp.waitFor(email, /verif|confirm/i, 10_000); // Register's own mail

        for (const rpc of ["RequestPasswordReset", "ResendVerification"]) {
          current = `${rpc}-${randomBytes(4).toString("hex")}`;
          events.length = 0;
          expect(ok(await client.call(rpc, { email }, { "x-request-id": current }))).toEqual({});
          // No drain: the work must start on its own once the answer is out, and mail arrive.
          await smtp.waitFor(email, rpc === "RequestPasswordReset" ? /reset/i : /verif|confirm/i, 10_000);
          const expected = viaHttp ? [`answer written ${current}`, `background ${current}`] : [`background ${current}`];
          expect(events).toEqual(expected);
        }
      } finally {
        client.close();
      }
    });
  }
});
