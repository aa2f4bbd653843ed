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

const assets = {
  "/docs/swagger-ui.css": "text/css; charset=utf-8",
  "/docs/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "/docs/swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "/docs/favicon-32x32.png": "image/png",
} as const;

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Auth service API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
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
    "x-content-type-options": "nosniff",
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
  const has = (path: string) => path === "/docs" || path === "/docs/init.js" || path in assets;
  return {
    /** Whether `path` is the page or one of its assets. */
    has,
    /** Serves /docs and its assets; false when the path is not one of them. */
    serve(path: string, res: ServerResponse): boolean {
      if (path === "/docs") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", ...security });
        res.end(page);
        return true;
      }
      if (path === "/docs/init.js") {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", ...security });
        res.end(init);
        return true;
      }
      const type = assets[path as keyof typeof assets];
      if (type === undefined) return false;
      const content = file(path.slice("/docs/".length));
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
