/**
 * The UContact API (seed 003): `/api/auth/register` (JSON), `/api/auth/login` (form, username),
 * `/api/auth/refresh-token` (JSON; answers the same refresh token, as UContact's update_jwt did),
 * and `/api/auth/confirmed_email/{token}`, the link of the verification mail of a user who
 * registered here.
 *
 * The confirmation link is UContact's, answered as UContact answered it, with one guard: a browser
 * (a GET that asks for HTML) and a HEAD get a page whose button POSTs to the same address, so that
 * mail scanners and link previews, which open links the way browsers do, verify nobody's address on
 * their own; the POST, and a GET of a program (UContact's clients, which read the JSON), verify and
 * answer `{"message": "Email verified successfully"}`. Why a program's GET still verifies: the
 * document's clients GET this route and read that JSON (docs/migrating.md, "Routes of the APIs this service
 * replaces").
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthError } from "../../../domain/errors.js";
import type { RequestContext } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import { readBody, readForm, readJsonObject, sendHtml, sendJson } from "../../http/io.js";
import type { HttpRoute } from "../../http/router.js";
import { PAGE_HEADERS, page } from "../verify-email-page.js";
import { type CompatDoc, type CompatOptions, compatRoute, fastApiErrors, schema, text } from "./common.js";

/** The OpenAPI document's tag of this API's routes. */
export const UCONTACT_API = {
  name: "UContact (seed 003)",
  description: "Routes compatible with the UContact API: JSON registration, a form login, and the mailed confirmation link.",
} as const;

const tokens = schema.object({ access_token: schema.string, refresh_token: schema.string, token_type: { const: "bearer" } });
const confirmation = schema.object({ message: schema.string });

/** How each route appears in the OpenAPI document (test/e2e/openapi.test.ts checks the answers against it). */
const docs = {
  register: {
    api: UCONTACT_API,
    summary: "Create an account; a link to /api/auth/confirmed_email/{token} is mailed.",
    body: { json: schema.object({ email: schema.string, password: schema.string, username: schema.string }, ["username"]) },
    status: 201,
    answer: schema.object({
      id: schema.integer,
      username: schema.string,
      email: schema.string,
      created_at: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$", description: "UTC, without an offset." },
      avatar: { type: "null" },
      is_verified: schema.boolean,
    }),
  },
  login: {
    api: UCONTACT_API,
    summary: "Sign in (form; username = email or username).",
    body: { form: schema.object({ username: schema.string, password: schema.string }) },
    answer: tokens,
  },
  refreshToken: {
    api: UCONTACT_API,
    summary: "A new access token; the same refresh token is answered (as UContact's update_jwt did).",
    body: { json: schema.object({ refresh_token: schema.string }) },
    answer: tokens,
  },
  confirmedEmail: {
    api: UCONTACT_API,
    summary: "The mailed link: a program's GET verifies the address; a browser's gets a page whose button POSTs here.",
    answer: confirmation,
    page: true,
  },
  confirm: {
    api: UCONTACT_API,
    summary: "The confirmation page's button: verifies the address.",
    answer: confirmation,
  },
} as const satisfies Record<string, CompatDoc>;

const messages = {
  EMAIL_TAKEN: "Account already exists",
  USERNAME_TAKEN: "Account already exists",
  INVALID_CREDENTIALS: "Incorrect username or password",
  // Its document shows no answer for an unverified login; ours is 401, as its other login refusal.
  EMAIL_NOT_VERIFIED: "Email not confirmed",
  ACCOUNT_DISABLED: "Inactive user",
  TOKEN_INVALID: "Verification error",
  TOKEN_EXPIRED: "Verification error",
  SESSION_REVOKED: "Could not validate credentials",
  TOKEN_REUSED: "Could not validate credentials",
} as const;
const errors = fastApiErrors(messages);
/** Refresh: a refresh token that is not ours is a credentials problem, not a verification one. */
const refreshErrors = fastApiErrors({ ...messages, TOKEN_INVALID: "Could not validate credentials" });
/** Login: an unverified address is refused with 401 (see `messages`), not our 403. */
const loginErrors: ErrorFormat = {
  ...errors,
  status: (error) => (error.reason === "EMAIL_NOT_VERIFIED" ? 401 : (errors.status?.(error) ?? 500)),
};

/**
 * `created_at` as UContact's API wrote it: `2025-04-16T12:00:00`, ISO 8601 in UTC without an
 * offset (a naive datetime, as its database returned it), to the whole second.
 */
export const naiveUtcSeconds = (date: Date) => date.toISOString().slice(0, 19);

/** The page a browser gets: a button that POSTs to the same address; nothing in it repeats the token. */
const confirmationPage = page(
  "Confirm your email address",
  `<p>Press the button to confirm that this email address is yours.</p>\n<form method="post"><button type="submit">Confirm my email address</button></form>`,
);

/** Whether a GET comes from a browser (it asks for HTML), or is a HEAD (never a verification). */
function wantsPage(req: IncomingMessage): boolean {
  if (req.method === "HEAD") return true;
  return /(^|,)\s*(text\/html|application\/xhtml\+xml)\s*(;|,|$)/i.test(req.headers.accept ?? "");
}

export function ucontactRoutes(options: CompatOptions): HttpRoute[] {
  return [registerRoute(options), ...sessionRoutes(options), ...confirmationRoutes(options)];
}

/** `POST /register`: the new user, in UContact's shape; their mail links to UContact's confirmation route. */
function registerRoute({ flows, maxRequestBytes }: CompatOptions): HttpRoute {
  return compatRoute(
    "ucontact",
    "POST",
    "/api/auth/register",
    "compat.ucontact.register",
    async ({ req, res, ctx }) => {
      const body = await readJsonObject(req, maxRequestBytes);
      const input = { email: text(body, "email"), password: text(body, "password"), username: text(body, "username"), fullName: undefined };
      const user = await flows.register(ctx, input);
      sendJson(res, 201, {
        id: user.number,
        username: user.username ?? "",
        email: user.email,
        created_at: naiveUtcSeconds(user.createdAt),
        avatar: null,
        is_verified: user.emailVerifiedAt !== null,
      });
    },
    errors,
    docs.register,
  );
}

/** `POST /login` (form, username) and `POST /refresh-token` (the same refresh token back). */
function sessionRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  return [
    compatRoute(
      "ucontact",
      "POST",
      "/api/auth/login",
      "compat.ucontact.login",
      async ({ req, res, ctx }) => {
        const form = await readForm(req, maxRequestBytes);
        const login = await flows.login(ctx, { identifier: text(form, "username"), password: text(form, "password") });
        sendJson(res, 200, { access_token: login.accessToken, refresh_token: login.refreshToken, token_type: "bearer" });
      },
      loginErrors,
      docs.login,
    ),
    compatRoute(
      "ucontact",
      "POST",
      "/api/auth/refresh-token",
      "compat.ucontact.refresh_token",
      async ({ req, res, ctx }) => {
        const body = await readJsonObject(req, maxRequestBytes);
        const tokens = await flows.refresh(ctx, { refreshToken: text(body, "refresh_token") }, "keep");
        sendJson(res, 200, { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, token_type: "bearer" });
      },
      refreshErrors,
      docs.refreshToken,
    ),
  ];
}

/** `/confirmed_email/{token}`: a program's GET and the page's POST verify; a browser's GET and a HEAD get the page. */
function confirmationRoutes({ flows, maxRequestBytes }: CompatOptions): HttpRoute[] {
  const confirmed = "/api/auth/confirmed_email/{token}";
  async function confirm(ctx: RequestContext, res: ServerResponse, token: string): Promise<void> {
    try {
      await flows.verifyEmail(ctx, { token });
    } catch (error) {
      // A used verification link means the address was verified already: say so, as UContact did.
      if (error instanceof AuthError && error.reason === "TOKEN_USED") {
        sendJson(res, 200, { message: "Your email is already confirmed" });
        return;
      }
      throw error;
    }
    sendJson(res, 200, { message: "Email verified successfully" });
  }
  return [
    compatRoute(
      "ucontact",
      "GET",
      confirmed,
      "compat.ucontact.confirmed_email",
      async ({ req, res, ctx, params }) => {
        if (wantsPage(req)) sendHtml(res, 200, confirmationPage, PAGE_HEADERS);
        else await confirm(ctx, res, params.token ?? "");
      },
      errors,
      docs.confirmedEmail,
    ),
    compatRoute(
      "ucontact",
      "POST",
      confirmed,
      "compat.ucontact.confirmed_email.confirm",
      async ({ req, res, ctx, params }) => {
        // The page's form posts no field: the token is in the address. Read (and bound) the body.
        await readBody(req, maxRequestBytes);
        await confirm(ctx, res, params.token ?? "");
      },
      errors,
      docs.confirm,
    ),
  ];
}
