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
import { HealthImplementation, type ServingStatus } from "grpc-health-check";

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

/** Reflection over `services` (and the types they use). */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  // The reflection service reads `fileDescriptorProtos` of each entry, as @grpc/proto-loader
  // makes them; the protobuf-es descriptors give the same bytes.
  const files = fileDescriptorProtos(services);
  const definition = Object.fromEntries(
    services.map((service) => [service.typeName, { fileDescriptorProtos: files }]),
  ) as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}

/** The health service for the whole server and each of `services`, NOT_SERVING until the first readiness check says otherwise. */
export function addHealth(server: grpc.Server, services: readonly DescService[]): { set(status: ServingStatus): void } {
  // "" is the whole server, as load balancers ask by default.
  const names = ["", ...services.map((service) => service.typeName)];
  const health = new HealthImplementation(Object.fromEntries(names.map((name) => [name, "NOT_SERVING" as ServingStatus])));
  health.addToServer(server);
  return {
    set(status) {
      for (const name of names) health.setStatus(name, status);
    },
  };
}
