/**
 * What "exactly a route" means on the HTTP port. The path a request names is matched as it was
 * sent, never after normalizing it: a proxy rule that blocks or allows `/x` must see the same path
 * this service serves. So a request target is served only when its path is already in the one
 * form no normalizer would change, and is 404 otherwise:
 * - it starts with a single `/` (`//x/metrics` is a path, not a host: WHATWG URL parsing reads it
 *   as one, which is how `//x/metrics` used to be served as `/metrics`);
 * - no segment is empty (`//`, a trailing `/`), `.` or `..`, also percent-encoded (`%2e`);
 * - it holds no `\`, no percent-encoded `/` or `\` (`%2f`, `%5c`), no `%00`, and every `%` starts
 *   a valid escape.
 * Literal segments are then compared byte for byte (`/v1/auth/%6Cogin` is not `/v1/auth/login`);
 * only the values of path variables are percent-decoded (path-template.ts).
 */

/** The raw path of a request target in that form, or undefined when it is not. `absolute-form` targets (RFC 9112 §3.2.2) are read too. */
export function canonicalPath(target: string): string | undefined {
  let rest = target;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(rest);
  if (absolute !== null) rest = rest.slice(absolute[0].length);
  const query = rest.indexOf("?");
  const path = query < 0 ? rest : rest.slice(0, query);
  if (!path.startsWith("/") || path.includes("#") || path.includes("\\")) return undefined;
  if (path === "/") return path;
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") return undefined;
    if (/%(?![0-9a-f]{2})|%2f|%5c|%00/i.test(segment)) return undefined;
    const dots = segment.replace(/%2e/gi, ".");
    if (dots === "." || dots === "..") return undefined;
  }
  return path;
}
