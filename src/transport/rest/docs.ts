/**
 * The API page at /docs: Swagger UI from the npm package swagger-ui-dist, served from this process
 * (no CDN), reading /openapi.json. The page and its assets cannot be framed (clickjacking:
 * `frame-ancestors 'none'` and `X-Frame-Options: DENY`), and their Content-Security-Policy lets
 * Swagger UI work and nothing else: its scripts and styles from this server only, no inline
 * script, and "Try it out" calls to this server and to PUBLIC_URL.
 */
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Where the API page is served; its assets are under it. */
export const DOCS_PATH = "/docs";

/** swagger-ui-dist's files served under DOCS_PATH, by file name, with their media types. */
const assets: Readonly<Record<string, string>> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};
/** The page's own script (Swagger UI's start-up), beside the assets. */
const INIT_PATH = `${DOCS_PATH}/init.js`;

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Auth service API</title>
  <link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
  <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="${DOCS_PATH}/swagger-ui-standalone-preset.js"></script>
  <script src="${INIT_PATH}"></script>
</body>
</html>
`;

// In a file of its own so that a Content-Security-Policy without 'unsafe-inline' holds.
const init = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
});
`;

/** The page's security headers; `publicUrl` is where "Try it out" sends its calls. */
function securityHeaders(publicUrl: string): Record<string, string> {
  let apiOrigin = "";
  try {
    apiOrigin = ` ${new URL(publicUrl).origin}`;
  } catch {
    // An unparsable URL adds nothing: calls go to this server only.
  }
  return {
    "content-security-policy":
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
      `connect-src 'self'${apiOrigin}; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
    "x-frame-options": "DENY",
    // X-Content-Type-Options: nosniff is on every answer of the port (http/server.ts).
  };
}

export function createDocs(publicUrl: string) {
  const security = securityHeaders(publicUrl);
  const root = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Buffer>();
  const file = (name: string) => {
    let content = cache.get(name);
    if (content === undefined) {
      content = readFileSync(join(root, name));
      cache.set(name, content);
    }
    return content;
  };
  /** The asset file `path` names, if it names one (own keys only: `/docs/constructor` is none). */
  const assetOf = (path: string): string | undefined => {
    if (!path.startsWith(`${DOCS_PATH}/`)) return undefined;
    const name = path.slice(DOCS_PATH.length + 1);
    return Object.hasOwn(assets, name) ? name : undefined;
  };
  const has = (path: string) => path === DOCS_PATH || path === INIT_PATH || assetOf(path) !== undefined;
  return {
    /** Whether `path` is the page or one of its assets. */
    has,
    /** Serves /docs and its assets; false when the path is not one of them. */
    serve(path: string, res: ServerResponse): boolean {
      if (path === DOCS_PATH) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", ...security });
        res.end(page);
        return true;
      }
      if (path === INIT_PATH) {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", ...security });
        res.end(init);
        return true;
      }
      const name = assetOf(path);
      const type = name === undefined ? undefined : assets[name];
      if (name === undefined || type === undefined) return false;
      const content = file(name);
      res.writeHead(200, {
        "content-type": type,
        "content-length": String(content.length),
        "cache-control": "public, max-age=86400",
        ...security,
      });
      res.end(content);
      return true;
    },
  };
}
