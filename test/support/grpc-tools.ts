/**
 * Generic gRPC clients a team or an operator would use without our proto files: a reflection client
 * (what grpcurl does) and a health checker (what a load balancer does), built with
 * @grpc/proto-loader from the protos those packages ship.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const require = createRequire(import.meta.url);
const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function load(path: string): any {
  return grpc.loadPackageDefinition(protoLoader.loadSync(path, options));
}

/** Sends one reflection request and resolves with the response (v1 or v1alpha). */
export async function reflect(address: string, version: "v1" | "v1alpha", request: object): Promise<any> {
  const root = join(
    dirname(require.resolve("@grpc/reflection/package.json")),
    "build",
    "proto",
    "grpc",
    "reflection",
    version,
    "reflection.proto",
  );
  const pkg = load(root);
  const client = new pkg.grpc.reflection[version].ServerReflection(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on("data", (response: unknown) => {
        resolve(response);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  } finally {
    client.close();
  }
}

/** grpc.health.v1.Health/Check for `service` ("" is the whole server). */
export async function checkHealth(address: string, service = ""): Promise<string> {
  const pkg = load(require("grpc-health-check").protoPath);
  const client = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      client.Check({ service }, { deadline: Date.now() + 5000 }, (error: Error | null, response: { status: string }) =>
        error ? reject(error) : resolve(response.status),
      ),
    );
  } finally {
    client.close();
  }
}

/** grpc.health.v1.Health/List, or Watch's first message: the answer, or the error's code and details. */
export async function healthCall(
  address: string,
  method: "List" | "Watch" | "Check",
  request: object = {},
): Promise<{ response?: any; code?: number; details?: string }> {
  const pkg = load(require("grpc-health-check").protoPath);
  const client = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  const settle = (error: grpc.ServiceError | null, response?: unknown) =>
    error ? { code: error.code, details: error.details } : { response };
  try {
    return await new Promise((resolve) => {
      if (method === "Watch") {
        const call = client.Watch(request, { deadline: Date.now() + 5000 });
        call.on("data", (response: unknown) => {
          resolve(settle(null, response));
          call.cancel();
        });
        call.on("error", (error: grpc.ServiceError) => resolve(settle(error)));
      } else
        client[method](request, { deadline: Date.now() + 5000 }, (error: grpc.ServiceError | null, response: unknown) =>
          resolve(settle(error, response)),
        );
    });
  } finally {
    client.close();
  }
}
