// Checks a Connect JSON request against its message descriptor before protobuf-es reads it:
// timestamps through the one RFC 3339 validator both encodings share (protobuf-es rolls
// 2026-02-30 over to March), and enum values, each refusal naming the field.
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { parseInstant } from "../../core/instant.js";
import type { WireProblem } from "./strict-binary.js";

const byJsonKey = new WeakMap<DescMessage, Map<string, DescField>>();
function fieldFor(desc: DescMessage, key: string): DescField | undefined {
  let map = byJsonKey.get(desc);
  if (map === undefined) {
    map = new Map();
    for (const f of desc.fields) {
      map.set(f.name, f);
      map.set(f.jsonName, f);
    }
    byJsonKey.set(desc, map);
  }
  return map.get(key);
}

class Problem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Checks parsed JSON `value` as a `desc` message; undefined when nothing is wrong here. */
export function jsonProblem(desc: DescMessage, value: unknown): WireProblem | undefined {
  try {
    message(desc, value, "");
    return undefined;
  } catch (error) {
    if (error instanceof Problem) return { field: error.field, message: error.message };
    throw error;
  }
}

function message(desc: DescMessage, value: unknown, path: string): void {
  if (desc.typeName === "google.protobuf.Timestamp") {
    timestamp(value, path);
    return;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  if (desc.typeName.startsWith("google.protobuf.")) return;
  for (const [key, v] of Object.entries(value)) {
    const field = fieldFor(desc, key);
    if (field === undefined || v === null) continue;
    const here = path === "" ? field.jsonName : `${path}.${field.jsonName}`;
    switch (field.fieldKind) {
      case "message":
        message(field.message, v, here);
        break;
      case "enum":
        enumValue(field.enum, v, here);
        break;
      case "list":
        if (!Array.isArray(v)) break;
        v.forEach((item, i) => {
          if (field.listKind === "message") message(field.message, item, `${here}[${i}]`);
          else if (field.listKind === "enum") enumValue(field.enum, item, `${here}[${i}]`);
        });
        break;
      case "map":
        if (typeof v !== "object" || Array.isArray(v)) break;
        for (const [k, item] of Object.entries(v as object)) {
          if (field.mapKind === "message") message(field.message, item, `${here}[${k}]`);
          else if (field.mapKind === "enum") enumValue(field.enum, item, `${here}[${k}]`);
        }
        break;
      default:
        break;
    }
  }
}

function timestamp(value: unknown, path: string): void {
  if (typeof value !== "string") throw new Problem(path, "must be an RFC 3339 timestamp string");
  if (parseInstant(value) === undefined) {
    throw new Problem(path, `is not a valid RFC 3339 timestamp: ${JSON.stringify(value)}`);
  }
}

function enumValue(desc: DescEnum, value: unknown, path: string): void {
  if (desc.typeName === "google.protobuf.NullValue") return;
  if (typeof value === "string" && desc.values.some((v) => v.name === value)) return;
  if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) <= 2 ** 31) return;
  const names = desc.values.map((v) => v.name).join(", ");
  throw new Problem(path, `must be one of ${names}, got ${JSON.stringify(value)}`);
}
