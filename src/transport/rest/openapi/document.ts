/**
 * The OpenAPI 3.1 document of the REST API, generated from the descriptors of the served services:
 * every binding of every `google.api.http` rule (operations.ts), the JSON schemas of the messages
 * (schemas.ts), the bearer security scheme (from each method's `caller_auth` option), the error
 * schema (beside the error writer), and the OAuth token endpoint (beside the endpoint).
 * Descriptions come from the proto comments (comments.ts).
 */
import type { DescService } from "@bufbuild/protobuf";
import { statusOpenApiSchema } from "../../http/errors.js";
import { httpBindings } from "../gateway.js";
import { oauthTokenOpenApi } from "../oauth-token.js";
import { loadComments } from "./comments.js";
import { gatewayPaths } from "./operations.js";
import { createSchemaCollector } from "./schemas.js";

export interface OpenApiOptions {
  readonly serverUrl: string;
  readonly version: string;
}

export function openApiDocument(services: readonly DescService[], options: OpenApiOptions): Record<string, unknown> {
  const comments = loadComments();
  const collector = createSchemaCollector(comments);
  const paths = { ...gatewayPaths(httpBindings(services), comments, collector), ...oauthTokenOpenApi() };
  const about = services.map((service) => comments.get(service.typeName) ?? "").filter((text) => text !== "");
  return {
    openapi: "3.1.0",
    info: {
      title: "Auth service REST API",
      version: options.version,
      description: `${about.join("\n\n")}\n\nThe same API is served over gRPC and Connect; see the README.`,
    },
    servers: [{ url: options.serverUrl }],
    paths,
    components: {
      schemas: { ...collector.schemas(), "google.rpc.Status": statusOpenApiSchema },
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
  };
}
