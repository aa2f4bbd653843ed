/** The proto comments, for the OpenAPI document's descriptions (src/gen/descriptors.binpb, built by `npm run generate`). */
import { readFileSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** Leading comments of every element, by fully-qualified name, from the descriptor set with source info. */
export function loadComments(): Map<string, string> {
  const comments = new Map<string, string>();
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(new URL("../../../gen/descriptors.binpb", import.meta.url)));
  for (const file of set.file) {
    const byPath = new Map<string, string>();
    for (const location of file.sourceCodeInfo?.location ?? []) {
      if (location.leadingComments) byPath.set(location.path.join("."), location.leadingComments.trim().replace(/\n /g, "\n"));
    }
    const prefix = file.package ? `${file.package}.` : "";
    file.messageType.forEach((message, i) => {
      const name = `${prefix}${message.name}`;
      const own = byPath.get(`4.${i}`);
      if (own) comments.set(name, own);
      message.field.forEach((field, j) => {
        const text = byPath.get(`4.${i}.2.${j}`);
        if (text) comments.set(`${name}.${field.name}`, text);
      });
    });
    file.enumType.forEach((enumType, i) => {
      const text = byPath.get(`5.${i}`);
      if (text) comments.set(`${prefix}${enumType.name}`, text);
    });
    file.service.forEach((service, i) => {
      const text = byPath.get(`6.${i}`);
      if (text) comments.set(`${prefix}${service.name}`, text);
      service.method.forEach((method, j) => {
        const methodText = byPath.get(`6.${i}.2.${j}`);
        if (methodText) comments.set(`${prefix}${service.name}.${method.name}`, methodText);
      });
    });
  }
  return comments;
}
