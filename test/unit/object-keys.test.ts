/** The rule that keys a caller names are data: the JSON parser, imported files and permission merging. */
import { describe, expect, it } from "vitest";
import { importUsers, parseCsv, parseJsonl } from "../../src/cli/import-users.js";
import { AuthError } from "../../src/domain/errors.js";
import { checkKey, parseJson } from "../../src/domain/keys.js";
import { mergePermissions } from "../../src/domain/model.js";

const prototypeKeys = Reflect.ownKeys(Object.prototype);

describe("parseJson", () => {
  it.each([
    '{"__proto__": {"x": 1}}',
    '{"a": [{"constructor": {"prototype": {"x": 1}}}]}',
    '{"\\u005f_proto__": {"x": 1}}',
    '{"prot\\u006ftype": 1}',
  ])("refuses %s with INVALID_REQUEST", (text) => {
    expect(() => parseJson(text)).toThrow(AuthError);
    try {
      parseJson(text);
    } catch (error) {
      expect((error as AuthError).reason).toBe("INVALID_REQUEST");
      expect(["__proto__", "constructor", "prototype"]).toContain((error as AuthError).metadata.field);
    }
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  });

  it("parses ordinary documents, including \\u escapes and look-alike keys, as JSON.parse does", () => {
    for (const text of [
      '{"a": 1, "b": [true, null, "x"]}',
      '{"caf\\u00e9": "\\u00e9"}',
      '{"__proto": 1, "Constructor": 2, "prototypes": 3}',
      "[1, 2]",
    ]) {
      expect(parseJson(text)).toEqual(JSON.parse(text));
    }
  });

  it("throws SyntaxError for text that is not JSON", () => {
    expect(() => parseJson("{nope")).toThrow(SyntaxError);
  });

  it("checkKey passes other names through", () => {
    expect(checkKey("token")).toBe("token");
    expect(() => checkKey("constructor")).toThrow(AuthError);
  });
});

describe("import files", () => {
  it("a CSV header naming __proto__ fails every row with a reason, and the rows have no prototype", () => {
    const rows = parseCsv("email,__proto__,password_hash\na@example.com,{},$2b$04$x\n");
    expect(rows).toHaveLength(1);
    expect(rows[0]?.problem).toContain("__proto__");
    expect(Object.getPrototypeOf(rows[0]?.fields)).toBeNull();
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  });

  it("a JSONL line with a forbidden key becomes a failed row naming it; other lines are read", () => {
    const rows = parseJsonl('{"email":"a@example.com","__proto__":{"isAdmin":true}}\n{"email":"b@example.com"}\nnot json\n');
    expect(rows.map((r) => r.problem)).toEqual([expect.stringContaining("__proto__"), undefined, "not valid JSON"]);
    expect(rows[1]?.fields.email).toBe("b@example.com");
  });

  it("importUsers reports such rows by line without touching the database", async () => {
    const rows = parseJsonl('{"email":"a@example.com","constructor":{"prototype":{"x":1}}}\n');
    // No database access happens for a row that failed to parse: a db that throws on use proves it.
    const db = new Proxy(
      {},
      {
        get: () => {
          throw new Error("the database was used");
        },
      },
    ) as never;
    const report = await importUsers(db, rows, { tenant: "default" });
    expect(report.failed).toEqual([{ line: 1, reason: expect.stringMatching(/constructor|prototype/) }]);
  });
});

describe("mergePermissions", () => {
  it("drops prototype names from stored role documents and returns an object without a prototype", () => {
    const merged = mergePermissions([
      JSON.parse('{"__proto__": {"isAdmin": true}, "reports": {"view": true}}'),
      { reports: { edit: true } },
    ]);
    expect(Object.getPrototypeOf(merged)).toBeNull();
    expect(Object.keys(merged)).toEqual(["reports"]);
    expect({ ...(merged.reports as object) }).toEqual({ view: true, edit: true });
    expect((merged as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  });
});
