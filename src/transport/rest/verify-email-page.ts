/**
 * The page behind the mailed verification link, `GET /v1/auth/verify-email?token=…`. Opening the
 * link spends nothing: mail scanners and link previews fetch links on their own (GET and HEAD),
 * so a GET only shows a small page whose button POSTs the token back, form-encoded, to the same
 * path; that POST verifies the address and answers a result page. The API's JSON POST to the same
 * path (the gateway's VerifyEmail route) is unchanged: the two POSTs are told apart by content
 * type.
 *
 * The pages are self-contained (no script, no external asset, one inline style allowed by its
 * hash), cannot be framed, are never cached, and send no Referer (the token is in the page's URL).
 */
import { createHash } from "node:crypto";
import { AuthError } from "../../domain/errors.js";
import type { Flows } from "../../domain/flows.js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { ErrorFormat } from "../http/errors.js";
import { mediaTypeOf, readForm, sendHtml } from "../http/io.js";
import { exactPath, type HttpRoute } from "../http/router.js";

const PATH = "/v1/auth/verify-email";
/** Mailed tokens are 43 characters; anything much longer is not one, and is not echoed into a page. */
const MAX_TOKEN_LENGTH = 512;

const style =
  "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2328}" +
  "button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#0969da;color:#fff;cursor:pointer}";
const styleHash = createHash("sha256").update(style).digest("base64");

/** The headers of every page here. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": `default-src 'none'; style-src 'sha256-${styleHash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A page of ours: the title, then `body` (HTML, escaped by the caller), in the shared style. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

/** The token of a request, or INVALID_REQUEST naming the field. */
function tokenOf(value: string | null): string {
  if (value === null || value === "" || value.length > MAX_TOKEN_LENGTH) {
    throw new AuthError("INVALID_REQUEST", { message: "The link has no valid token.", metadata: { field: "token" } });
  }
  return value;
}

/** What a person is told for each failure. */
function failureText(error: AuthError): { title: string; text: string } {
  switch (error.reason) {
    case "TOKEN_USED":
      return { title: "This link was already used", text: "The address was confirmed with it before. You can sign in." };
    case "TOKEN_EXPIRED":
      return { title: "This link has expired", text: "Ask for a new verification mail from the app you signed up with." };
    case "TOKEN_INVALID":
    case "INVALID_REQUEST":
      return { title: "This link is not valid", text: "Open the whole link from the mail, or ask for a new verification mail." };
    case "REQUEST_TOO_LARGE":
      return { title: "This request is too large", text: "Open the link from the mail again." };
    default:
      return { title: "Something went wrong", text: "The address could not be confirmed just now. Try again in a few minutes." };
  }
}

const pageErrors: ErrorFormat = {
  body: (error) => ({ reason: error.reason }),
  html(error) {
    const { title, text } = failureText(error);
    return page(title, `<p>${escapeHtml(text)}</p>`);
  },
  headers: PAGE_HEADERS,
};

/** GET (and HEAD) shows the confirmation page; a form POST verifies. */
export function verifyEmailPageRoutes(flows: Flows, maxRequestBytes: number): HttpRoute[] {
  return [
    {
      method: "GET",
      name: "page.verify_email",
      errors: pageErrors,
      path: PATH,
      match: exactPath(PATH),
      async handle({ res, url }) {
        const token = tokenOf(url.searchParams.get("token"));
        // The form posts to this same path (relative, so that a path prefix added by a proxy holds).
        const form =
          `<p>Press the button to confirm that this email address is yours.</p>\n` +
          `<form method="post" action="verify-email">` +
          `<input type="hidden" name="token" value="${escapeHtml(token)}">` +
          `<button type="submit">Confirm my email address</button></form>`;
        sendHtml(res, 200, page("Confirm your email address", form), PAGE_HEADERS);
      },
    },
    {
      method: "POST",
      name: "page.verify_email.confirm",
      rpc: AuthService.method.verifyEmail,
      errors: pageErrors,
      // The API's POST is JSON (the gateway's route); this one takes the page's form.
      accepts: (req) => mediaTypeOf(req) === "application/x-www-form-urlencoded",
      path: PATH,
      match: exactPath(PATH),
      async handle({ req, res, ctx }) {
        const form = await readForm(req, maxRequestBytes);
        const user = await flows.verifyEmail(ctx, { token: tokenOf(form.get("token")) });
        sendHtml(
          res,
          200,
          page("Your email address is confirmed", `<p>${escapeHtml(user.email)} is confirmed. You can close this page.</p>`),
          PAGE_HEADERS,
        );
      },
    },
  ];
}
