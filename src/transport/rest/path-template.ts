/**
 * `google.api.http` path templates (https://github.com/googleapis/googleapis/blob/master/google/api/http.proto):
 * literal segments, `*` (one segment), `**` (the rest), variables `{field.path}` (one segment) or
 * `{field.path=pattern}`, and an optional `:verb` suffix.
 */

type Segment = { readonly kind: "literal"; readonly text: string } | { readonly kind: "wildcard" } | { readonly kind: "rest" };

interface Variable {
  readonly field: string;
  /** Index of the first segment the variable spans, and how many (-1: to the end). */
  readonly start: number;
  readonly length: number;
}

export interface PathTemplate {
  readonly template: string;
  /** The field paths bound by variables. */
  readonly variables: readonly string[];
  /** Field values when `path` matches, else undefined. */
  match(path: string): Record<string, string> | undefined;
  /** The template in OpenAPI form: `/v1/things/{thing_id}`. */
  readonly openApiPath: string;
}

export function parsePathTemplate(template: string): PathTemplate {
  if (!template.startsWith("/")) throw new Error(`path template ${template} must start with /`);
  let body = template.slice(1);
  let verb: string | undefined;
  const colon = body.lastIndexOf(":");
  if (colon > body.lastIndexOf("}") && colon > body.lastIndexOf("/")) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
  }
  const segments: Segment[] = [];
  const variables: Variable[] = [];
  const openApi: string[] = [];
  for (const part of splitTopLevel(body)) {
    const variable = /^\{([a-zA-Z_][\w.]*)(?:=(.+))?\}$/.exec(part);
    if (variable) {
      const [, field, pattern = "*"] = variable as unknown as [string, string, string | undefined];
      const inner = pattern.split("/").map(segmentOf);
      const spansRest = inner.some((s) => s.kind === "rest");
      variables.push({ field, start: segments.length, length: spansRest ? -1 : inner.length });
      segments.push(...inner);
      openApi.push(`{${field}}`);
    } else {
      segments.push(segmentOf(part));
      openApi.push(part);
    }
  }

  return {
    template,
    variables: variables.map((v) => v.field),
    openApiPath: `/${openApi.join("/")}${verb ? `:${verb}` : ""}`,
    match(path) {
      let rest = path.startsWith("/") ? path.slice(1) : path;
      if (verb !== undefined) {
        if (!rest.endsWith(`:${verb}`)) return undefined;
        rest = rest.slice(0, -(verb.length + 1));
      }
      const parts = rest === "" ? [] : rest.split("/");
      let index = 0;
      for (const [i, segment] of segments.entries()) {
        if (segment.kind === "rest") {
          if (i !== segments.length - 1) return undefined;
          index = parts.length;
          break;
        }
        const part = parts[index];
        if (part === undefined || part === "") return undefined;
        if (segment.kind === "literal" && part !== segment.text) return undefined;
        index += 1;
      }
      if (index !== parts.length) return undefined;
      const values: Record<string, string> = {};
      for (const variable of variables) {
        const taken = variable.length < 0 ? parts.slice(variable.start) : parts.slice(variable.start, variable.start + variable.length);
        try {
          values[variable.field] = taken.map((p) => decodeURIComponent(p)).join("/");
        } catch {
          return undefined; // a malformed %-escape matches nothing
        }
      }
      return values;
    },
  };
}

function segmentOf(text: string): Segment {
  if (text === "*") return { kind: "wildcard" };
  if (text === "**") return { kind: "rest" };
  return { kind: "literal", text };
}

/** Splits on "/" outside braces. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "{") depth += 1;
    if (char === "}") depth -= 1;
    if (char === "/" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  return parts;
}
