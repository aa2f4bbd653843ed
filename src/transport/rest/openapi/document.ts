/**
 * The OpenAPI 3.1 document of the REST API, generated from the descriptors of the served services:
 * every binding of every `google.api.http` rule (operations.ts), the JSON schemas of the messages
 * (schemas.ts), the bearer security scheme (from each method's `caller_auth` option), the error
 * schema (beside the error writer), the OAuth token endpoint (beside the endpoint), and the seed
 * routes served, each declared beside its route (rest/compat/), one tag per seed API. The server
 * URL is relative, so the document is the same whatever host name it is fetched by.
 * Descriptions come from the proto comments (comments.ts).
 */
import type { DescService } from "@bufbuild/protobuf";
import { statusOpenApiSchema } from "../../http/errors.js";
import type { HttpRoute, OpenApiTag } from "../../http/router.js";
import { httpBindings } from "../gateway.js";
import { oauthTokenOpenApi } from "../oauth-token.js";
import { loadComments } from "./comments.js";
import { gatewayPaths } from "./operations.js";
import { createSchemaCollector } from "./schemas.js";

export interface OpenApiOptions {
  readonly version: string;
  /** Routes served beside the gateway's; those that declare an operation (the seed routes) are documented, under their tag. */
  readonly routes?: readonly HttpRoute[];
}

export function openApiDocument(services: readonly DescService[], options: OpenApiOptions): Record<string, unknown> {
  const comments = loadComments();
  const collector = createSchemaCollector(comments);
  const paths: Record<string, object> = {
    ...gatewayPaths(httpBindings(services), comments, collector),
    ...oauthTokenOpenApi(),
  };
  const tags = new Map<string, OpenApiTag>();
  for (const route of options.routes ?? []) {
    if (route.openApi === undefined || route.path === undefined) continue;
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: route.openApi.operation };
    tags.set(route.openApi.tag.name, route.openApi.tag);
  }
  const about = services.map((service) => comments.get(service.typeName) ?? "").filter((text) => text !== "");
  return {
    openapi: "3.1.0",
    info: {
      title: "Auth service REST API",
      version: options.version,
      description: `${about.join("\n\n")}\n\nThe same API is served over gRPC and Connect; see the README.`,
    },
    // Relative: "Try it out" calls the host the page was loaded from, whatever name reached it;
    // nothing from the request (a Host header) goes into this document, which is built once.
    servers: [{ url: "/" }],
    ...(tags.size === 0 ? {} : { tags: [...tags.values()].map((tag) => ({ ...tag })) }),
    paths,
    components: {
      schemas: { ...collector.schemas(), "google.rpc.Status": statusOpenApiSchema },
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
  };
}
