/**
 * gRPC server reflection (v1 and v1alpha, @grpc/reflection) and the standard health service
 * (grpc.health.v1.Health, grpc-health-check) on the gRPC port, so that grpcurl, grpc_cli and load
 * balancers work without our proto files.
 */
import { type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { service as healthService, type ServingStatus } from "grpc-health-check";

/** The files declaring `services` and every file they import, serialized as FileDescriptorProtos. */
function fileDescriptorProtos(services: readonly DescService[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.set(file.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const service of services) visit(service.file);
  return [...seen.values()];
}

/**
 * Reflection over `services` (and the types they use), indexed at the first reflection call.
 *
 * @grpc/reflection decodes and indexes every descriptor when it is constructed, once for v1 and
 * once for v1alpha: ~1.1 MB of each process's heap, held for the whole life of a process that,
 * in production, is seldom or never asked. So the services are registered at start-up (with an
 * instance that indexes nothing, whose method definitions are the same), and each call is handed
 * to the handlers of an instance built with the descriptors at the first call.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  let handlers: Map<string, grpc.UntypedHandleCall> | undefined;
  const indexed = () => {
    if (handlers === undefined) {
      const byPath = new Map<string, grpc.UntypedHandleCall>();
      // The reflection service reads `fileDescriptorProtos` of each entry, as @grpc/proto-loader
      // makes them; the protobuf-es descriptors give the same bytes.
      const files = fileDescriptorProtos(services);
      const definition = Object.fromEntries(
        services.map((service) => [service.typeName, { fileDescriptorProtos: files }]),
      ) as unknown as PackageDefinition;
      new ReflectionService(definition).addToServer({
        addService(service, implementation) {
          for (const [name, handler] of Object.entries(implementation)) byPath.set(methodPath(service, name), handler);
        },
      });
      handlers = byPath;
    }
    return handlers;
  };
  new ReflectionService({}).addToServer({
    addService(service, implementation) {
      const forwarded = Object.fromEntries(
        Object.keys(implementation).map((name) => {
          const path = methodPath(service, name);
          const forward = (...args: unknown[]) => {
            const handler = indexed().get(path) as ((...args: unknown[]) => void) | undefined;
            if (handler === undefined) throw new Error(`reflection: no handler for ${path}`);
            handler(...args);
          };
          return [name, forward];
        }),
      );
      server.addService(service, forwarded as grpc.UntypedServiceImplementation);
    },
  });
}

/** The full path (`/package.Service/Method`) of `name` in a service definition. */
function methodPath(service: grpc.ServiceDefinition, name: string): string {
  const method = service[name];
  if (method === undefined) throw new Error(`reflection: the service definition has no method ${name}`);
  return method.path;
}

const NOT_FOUND = 5;

/**
 * The health service (grpc.health.v1) for the whole server and each of `services`, NOT_SERVING
 * until the first readiness check says otherwise: Check and List, which Kubernetes' gRPC probes,
 * grpc-health-probe and Envoy use. Not Watch (answered UNIMPLEMENTED, after which gRPC's
 * client-side health checking treats the server as healthy): its streams are answered at once and
 * then held open for good, outside REQUEST_TIMEOUT, so anonymous callers could pile up thousands
 * per process (5,000 took 63 MB in the attack review of 2026-11-25), and grpc-health-check's
 * implementation kept an entry for every service name ever watched.
 */
export function addHealth(server: grpc.Server, services: readonly DescService[]): { set(status: ServingStatus): void } {
  // "" is the whole server, as load balancers ask by default.
  const statuses = new Map<string, ServingStatus>(
    ["", ...services.map((service) => service.typeName)].map((name) => [name, "NOT_SERVING"]),
  );
  const check: grpc.handleUnaryCall<{ service?: unknown }, { status: ServingStatus }> = (call, callback) => {
    const status = typeof call.request.service === "string" ? statuses.get(call.request.service) : undefined;
    // The name is not echoed back: it is the caller's, of any length.
    if (status === undefined) callback({ code: NOT_FOUND, details: "no health status for this service" });
    else callback(null, { status });
  };
  const list: grpc.handleUnaryCall<unknown, { statuses: Record<string, { status: ServingStatus }> }> = (_call, callback) =>
    callback(null, { statuses: Object.fromEntries([...statuses].map(([name, status]) => [name, { status }])) });
  server.addService(healthService, { check, list } as grpc.UntypedServiceImplementation);
  return {
    set(status) {
      for (const name of statuses.keys()) statuses.set(name, status);
    },
  };
}
