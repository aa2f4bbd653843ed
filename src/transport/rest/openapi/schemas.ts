/** JSON Schemas of proto messages, fields and enums, as the proto3 JSON mapping writes them. */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

export type Schema = Record<string, unknown>;

export const schemaRef = (typeName: string) => ({ $ref: `#/components/schemas/${typeName}` });

function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0 };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.STRING:
      return { type: "string" };
    default:
      // 64-bit integers are strings in proto3 JSON.
      return { type: "string", format: "int64" };
  }
}

function messageFieldSchema(message: DescMessage, collect: (m: DescMessage | DescEnum) => void): Schema {
  switch (message.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    default:
      collect(message);
      return schemaRef(message.typeName);
  }
}

export function fieldSchema(field: DescField, collect: (m: DescMessage | DescEnum) => void): Schema {
  const single = (): Schema => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        collect(field.enum);
        return schemaRef(field.enum.typeName);
      case "message":
        return messageFieldSchema(field.message, collect);
      case "list":
        if (field.listKind === "scalar") return scalarSchema(field.scalar);
        if (field.listKind === "message") return messageFieldSchema(field.message, collect);
        collect(field.enum);
        return schemaRef(field.enum.typeName);
      case "map":
        return { type: "object", additionalProperties: field.mapKind === "scalar" ? scalarSchema(field.scalar) : { type: "object" } };
    }
  };
  return field.fieldKind === "list" ? { type: "array", items: single() } : single();
}

/**
 * Collects the schemas of the messages and enums the operations name, and of every type those
 * name in turn; `ref` registers a type and returns its `$ref`.
 */
export function createSchemaCollector(comments: ReadonlyMap<string, string>) {
  const schemas: Record<string, Schema> = {};
  const pending: (DescMessage | DescEnum)[] = [];
  const collect = (desc: DescMessage | DescEnum) => {
    if (!(desc.typeName in schemas) && !pending.includes(desc)) pending.push(desc);
  };
  return {
    collect,
    /** The schemas of everything collected so far, and of what they reach. */
    schemas(): Record<string, Schema> {
      while (pending.length > 0) {
        const desc = pending.shift()!;
        if (desc.kind === "enum") {
          schemas[desc.typeName] = { type: "string", enum: desc.values.map((v) => v.name), description: comments.get(desc.typeName) };
          continue;
        }
        const properties: Record<string, Schema> = {};
        for (const field of desc.fields) {
          const description = comments.get(`${desc.typeName}.${field.name}`);
          properties[field.jsonName] = { ...fieldSchema(field, collect), ...(description ? { description } : {}) };
        }
        schemas[desc.typeName] = { type: "object", description: comments.get(desc.typeName), properties };
      }
      return schemas;
    },
  };
}
