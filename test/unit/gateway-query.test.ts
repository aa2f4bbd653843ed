/**
 * The gateway's query parameters against a method whose GET rule leaves a scalar field to the
 * query (our proto has none since VerifyEmail lost its GET binding, so this test builds one): a
 * dotted path into a scalar is INVALID_ARGUMENT naming the parameter, a prototype name anywhere in
 * it is refused, and a plain one reaches the handler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, createFileRegistry, type DescService, setExtension } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Type, FileDescriptorProtoSchema, MethodOptionsSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { AuthError } from "../../src/domain/errors.js";
import type { RequestContext } from "../../src/domain/model.js";
import { http } from "../../src/gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../src/gen/google/api/http_pb.js";
import { gatewayRoutes } from "../../src/transport/rest/gateway.js";
import { serveService } from "../../src/transport/services.js";

function thingService(): DescService {
  const options = create(MethodOptionsSchema);
  setExtension(options, http, create(HttpRuleSchema, { pattern: { case: "get", value: "/v1/things" } }));
  const proto = create(FileDescriptorProtoSchema, {
    name: "thing.proto",
    package: "thing.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "GetThingRequest",
        field: [
          { name: "token", jsonName: "token", number: 1, type: FieldDescriptorProto_Type.STRING },
          { name: "active", jsonName: "active", number: 2, type: FieldDescriptorProto_Type.BOOL, proto3Optional: true, oneofIndex: 0 },
        ],
        oneofDecl: [{ name: "_active" }],
      },
      { name: "GetThingResponse" },
    ],
    service: [
      {
        name: "ThingService",
        method: [{ name: "GetThing", inputType: ".thing.v1.GetThingRequest", outputType: ".thing.v1.GetThingResponse", options }],
      },
    ],
  });
  const service = createFileRegistry(proto, () => undefined).getService("thing.v1.ThingService");
  if (service === undefined) throw new Error("no service");
  return service;
}

describe("the gateway's query parameters", () => {
  const seen: unknown[] = [];
  const served = serveService(thingService(), {
    getThing: async (request: unknown) => {
      seen.push(request);
      return {};
    },
  } as never);
  const [route] = gatewayRoutes([served], { maxRequestBytes: 1024 });
  const call = (query: string) => {
    const res = { writeHead: () => res, end: () => res } as unknown as ServerResponse;
    return route!.handle({
      req: { headers: {} } as IncomingMessage,
      res,
      url: new URL(`http://localhost/v1/things?${query}`),
      params: {},
      ctx: {} as RequestContext,
    });
  };

  it("refuses a nested path into a scalar field with INVALID_REQUEST naming the parameter", async () => {
    const error = await call("token.inner=1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).reason).toBe("INVALID_REQUEST");
    expect((error as AuthError).metadata.field).toBe("token.inner");
  });

  it("refuses a prototype name anywhere in the path, and pollutes nothing", async () => {
    const error = await call("token.__proto__.x=1").catch((e: unknown) => e);
    expect((error as AuthError).reason).toBe("INVALID_REQUEST");
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("reads a boolean as true or false (any case, or 1 and 0), and refuses any other value instead of reading it as false", async () => {
    for (const [text, value] of [
      ["true", true],
      ["TRUE", true],
      ["1", true],
      ["false", false],
      ["False", false],
      ["0", false],
    ] as const) {
      await call(`active=${text}`);
      expect(seen.at(-1), text).toMatchObject({ active: value });
    }
    for (const text of ["yes", "maybe", "", "2", "tru"]) {
      const error = await call(`active=${text}`).catch((e: unknown) => e);
      expect(error, text).toBeInstanceOf(AuthError);
      expect((error as AuthError).reason).toBe("INVALID_REQUEST");
      expect((error as AuthError).metadata.field).toBe("active");
    }
  });

  it("passes a plain parameter to the handler", async () => {
    await call("token=abc&cache_buster=1");
    expect(seen.at(-1)).toMatchObject({ token: "abc" });
  });
});
