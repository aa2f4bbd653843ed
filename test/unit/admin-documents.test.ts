/**
 * The bounded documents administrators store (permissions, attributes), permission paths, and page
 * tokens: every hostile shape a caller can send is INVALID_ARGUMENT with a reason, never stored.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { decodeNumberPageToken, decodePageToken, encodePageToken, MAX_PAGE_SIZE, pageSize } from "../../src/domain/admin/paging.js";
import { checkDescription } from "../../src/domain/admin/roles.js";
import { ATTRIBUTES_LIMITS, checkDocument, holdsPermission, PERMISSIONS_LIMITS, parsePermissionPath } from "../../src/domain/documents.js";
import { AuthError } from "../../src/domain/errors.js";
import { mergePermissions } from "../../src/domain/model.js";
import { checkReason } from "../../src/domain/user-status.js";
import { CreateRoleRequestSchema } from "../../src/gen/auth/admin/v1/admin_pb.js";

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof AuthError) return error.reason;
    throw error;
  }
  throw new Error("expected an AuthError");
}

const nested = (depth: number): Record<string, unknown> => (depth === 1 ? { leaf: true } : { level: nested(depth - 1) });

describe("permission documents", () => {
  it("accepts Vigia's permissions object and returns a copy without prototypes", () => {
    const input = { icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } };
    const copy = checkDocument(input, PERMISSIONS_LIMITS);
    expect(copy).toEqual(input);
    expect(Object.getPrototypeOf(copy)).toBeNull();
    expect(Object.getPrototypeOf(copy.icsr)).toBeNull();
  });

  it("refuses prototype names as keys at any depth, also when a JSON parser made them own properties", () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      expect(reasonOf(() => checkDocument(JSON.parse(`{"a": {"${key}": {"x": true}}}`), PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
      expect(reasonOf(() => checkDocument(JSON.parse(`{"${key}": true}`), ATTRIBUTES_LIMITS))).toBe("INVALID_ATTRIBUTES");
    }
  });

  it("refuses a __proto__ key that arrived in a binary protobuf Struct (gRPC)", () => {
    const struct = fromBinary(
      CreateRoleRequestSchema,
      toBinary(CreateRoleRequestSchema, {
        $typeName: "auth.admin.v1.CreateRoleRequest",
        tenant: "t",
        name: "r",
        description: "",
        permissions: JSON.parse('{"__proto__": {"polluted": true}}'),
      }),
    ).permissions;
    expect(Object.keys(struct ?? {})).toEqual(["__proto__"]);
    expect(reasonOf(() => checkDocument(struct, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses NUL bytes, control characters, dots in permission keys, empty and overlong keys, and non-finite numbers", () => {
    expect(reasonOf(() => checkDocument({ "a\u0000b": true }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument({ a: "x\u0000y" }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument({ "a\nb": true }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument({ "reports.view": true }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(checkDocument({ "hr.dept": "x" }, ATTRIBUTES_LIMITS)).toEqual({ "hr.dept": "x" });
    expect(reasonOf(() => checkDocument({ "": true }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument({ ["k".repeat(129)]: true }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument({ n: Number.NaN }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    expect(reasonOf(() => checkDocument([true], PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
  });

  it("bounds depth and size, naming the limit", () => {
    expect(checkDocument(nested(8), PERMISSIONS_LIMITS)).toEqual(nested(8));
    expect(reasonOf(() => checkDocument(nested(9), PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    // A deep array nesting is bounded the same way, without walking all of it.
    let deep: unknown = true;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(reasonOf(() => checkDocument({ a: deep }, PERMISSIONS_LIMITS))).toBe("INVALID_PERMISSIONS");
    const big = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`module${i}`, { view: true }]));
    expect(() => checkDocument(big, PERMISSIONS_LIMITS)).toThrow(/bytes of JSON, more than the 16384 allowed/);
    expect(reasonOf(() => checkDocument({ empleado_id: 1, note: "x".repeat(5000) }, ATTRIBUTES_LIMITS))).toBe("INVALID_ATTRIBUTES");
  });
});

describe("permission paths", () => {
  const merged = mergePermissions([{ reports: { view: true, generate: false } }, { reports: { generate: true }, icsr: { view: "yes" } }]);

  it("hold where the merged permissions say true, and nowhere else", () => {
    expect(holdsPermission(merged, parsePermissionPath("p", "reports.view"))).toBe(true);
    expect(holdsPermission(merged, parsePermissionPath("p", "reports.generate"))).toBe(true);
    expect(holdsPermission(merged, parsePermissionPath("p", "icsr.view"))).toBe(false);
    expect(holdsPermission(merged, parsePermissionPath("p", "reports"))).toBe(false);
    expect(holdsPermission(merged, parsePermissionPath("p", "reports.view.more"))).toBe(false);
    expect(holdsPermission(merged, parsePermissionPath("p", "toString"))).toBe(false);
    expect(holdsPermission(merged, parsePermissionPath("p", "hasOwnProperty"))).toBe(false);
  });

  it("refuse malformed and prototype-walking paths", () => {
    for (const path of ["", "reports..view", ".view", "a.__proto__", "constructor.prototype", "a\u0000b", "a.b.c.d.e.f.g.h.i"]) {
      expect(reasonOf(() => parsePermissionPath("required_permissions", path))).toBe("INVALID_REQUEST");
    }
  });
});

describe("page tokens", () => {
  it("round-trip a position for the same filters only", () => {
    const filters = { tenant: "acme", emailPrefix: "a" };
    const token = encodePageToken("42", filters);
    expect(decodePageToken(token, filters, /^\d+$/)).toBe("42");
    expect(decodePageToken("", filters, /^\d+$/)).toBeNull();
    expect(reasonOf(() => decodePageToken(token, { tenant: "acme", emailPrefix: "b" }, /^\d+$/))).toBe("INVALID_PAGE_TOKEN");
    expect(reasonOf(() => decodePageToken(token, { tenant: "other", emailPrefix: "a" }, /^\d+$/))).toBe("INVALID_PAGE_TOKEN");
  });

  it("refuse garbage, and positions of the wrong shape", () => {
    for (const token of [
      "not a token",
      "%%%",
      "eyJ9",
      "x".repeat(600),
      Buffer.from('{"p":"1; drop table users","f":"x"}').toString("base64url"),
    ]) {
      expect(reasonOf(() => decodePageToken(token, {}, /^\d+$/))).toBe("INVALID_PAGE_TOKEN");
    }
    expect(reasonOf(() => decodePageToken(encodePageToken("abc", {}), {}, /^\d+$/))).toBe("INVALID_PAGE_TOKEN");
  });

  it("refuse a numeric position past what its column holds (tokens are not secret: anyone can forge one)", () => {
    const filters = { tenant: "acme" };
    const max = 9_223_372_036_854_775_807n;
    expect(decodeNumberPageToken(encodePageToken("9223372036854775807", filters), filters, max)).toBe("9223372036854775807");
    for (const position of ["9223372036854775808", "9999999999999999999", "0", "-1", "01", "1e3"]) {
      expect(
        reasonOf(() => decodeNumberPageToken(encodePageToken(position, filters), filters, max)),
        position,
      ).toBe("INVALID_PAGE_TOKEN");
    }
    expect(reasonOf(() => decodeNumberPageToken(encodePageToken("9007199254740992", filters), filters, 9_007_199_254_740_991n))).toBe(
      "INVALID_PAGE_TOKEN",
    );
  });

  it("default to 50 a page, at most 500, and refuse a negative size", () => {
    expect(pageSize(0)).toBe(50);
    expect(pageSize(7)).toBe(7);
    expect(pageSize(100_000)).toBe(MAX_PAGE_SIZE);
    expect(reasonOf(() => pageSize(-1))).toBe("INVALID_REQUEST");
  });
});

describe("free text an administrator writes", () => {
  it("refuses in role descriptions and disable reasons what breaks logs and UIs: control, bidi control and line separators", () => {
    for (const hostile of ["a\u0000b", "red\u001b[31m", "abc\u202Efdp.exe", "one\u2028two"]) {
      expect(reasonOf(() => checkDescription(hostile))).toBe("INVALID_REQUEST");
      expect(reasonOf(() => checkReason(hostile))).toBe("INVALID_REQUEST");
    }
    expect(checkDescription("  Quality and finance, Zürich  ")).toBe("Quality and finance, Zürich");
    expect(checkReason(" left the company ")).toBe("left the company");
  });

  it("answers a permission path no document could hold (an invisible character) as malformed, not as unheld", () => {
    expect(reasonOf(() => parsePermissionPath("required_permissions", "reports.vi\u200Bew"))).toBe("INVALID_REQUEST");
    expect(parsePermissionPath("required_permissions", "reports.view")).toEqual(["reports", "view"]);
  });
});
