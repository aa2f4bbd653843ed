/**
 * gRPC server reflection (v1 and v1alpha, @grpc/reflection) and the standard health service
 * (grpc.health.v1.Health, grpc-health-check) on the gRPC port, so that grpcurl, grpc_cli and load
 * balancers work without our proto files.
 */
import { type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { AuthService, file_auth_v1_auth } from "../../gen/auth/v1/auth_pb.js";

/** Our file and every file it imports, serialized as FileDescriptorProtos. */
function fileDescriptorProtos(root: DescFile): Buffer[] {
  const seen = new Map<string, Buffer>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.set(file.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
    for (const dependency of file.dependencies) visit(dependency);
  };
  visit(root);
  return [...seen.values()];
}

export function addReflection(server: grpc.Server): void {
  // The reflection service reads `fileDescriptorProtos` of each entry, as @grpc/proto-loader
  // makes them; the protobuf-es descriptors give the same bytes.
  const definition = {
    [AuthService.typeName]: { fileDescriptorProtos: fileDescriptorProtos(file_auth_v1_auth) },
  } as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}

/** The health service, NOT_SERVING until the first readiness check says otherwise. */
export function addHealth(server: grpc.Server): { set(status: ServingStatus): void } {
  const health = new HealthImplementation({ "": "NOT_SERVING", [AuthService.typeName]: "NOT_SERVING" });
  health.addToServer(server);
  return {
    set(status) {
      // "" is the whole server, as load balancers ask by default.
      health.setStatus("", status);
      health.setStatus(AuthService.typeName, status);
    },
  };
}
