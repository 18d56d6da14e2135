// Field decoders shared by both encodings of an event: each reads one value from the HTTP
// binding's parsed JSON or from a protobuf-es message field. The binding reads as leniently
// as the original CP's serde did (any string, no length caps, any integer where it took
// one); the proto contract keeps its bounds. README "Binding validation" lists the rest.
import type { DescEnum } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type Instant, instantFromParts, parseInstant } from "../../core/instant.js";

/** A request field that is missing or malformed; `field` is its path as the client spells it. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** Reads one field from either encoding. `path` names the field in errors. */
export interface FieldCodec<T> {
  json(value: unknown, path: string): T;
  proto(value: unknown, path: string): T;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function requireString(value: unknown, path: string): string {
  if (typeof value !== "string") {
    throw new FieldError(path, value === undefined ? "is required" : "must be a string");
  }
  return value;
}

/**
 * A required string: any string in JSON; 1..max UTF-16 units (0..max when `allowEmpty`)
 * in proto, where "" cannot be told from unset.
 */
export function text(max: number, allowEmpty = false): FieldCodec<string> {
  const check = (value: unknown, path: string): string => {
    requireString(value, path);
    const s = value as string;
    if (s.length === 0 && !allowEmpty) throw new FieldError(path, "must not be empty");
    if (s.length > max) throw new FieldError(path, `must be at most ${max} characters`);
    return s;
  };
  return {
    json: (value, path) => requireString(value ?? undefined, path),
    // proto3 cannot tell an unset string from "", so "" reads as missing.
    proto: (value, path) => check(value === "" && !allowEmpty ? undefined : value, path),
  };
}

/** An optional string: absent or null in JSON, unset in proto, reads as undefined. */
export function optionalText(max: number): FieldCodec<string | undefined> {
  const inner = text(max, true);
  return {
    json: (value, path) =>
      value === undefined || value === null ? undefined : inner.json(value, path),
    proto: (value, path) => (value === undefined ? undefined : inner.proto(value, path)),
  };
}

/** An agent timestamp: RFC 3339 text in JSON, google.protobuf.Timestamp in proto. */
export const timestamp: FieldCodec<Instant> = {
  json(value, path) {
    if (value === undefined || value === null) throw new FieldError(path, "is required");
    if (typeof value !== "string") throw new FieldError(path, "must be an RFC 3339 string");
    const instant = parseInstant(value);
    if (instant === undefined)
      throw new FieldError(path, `is not a valid RFC 3339 timestamp: "${value}"`);
    return instant;
  },
  proto(value, path) {
    if (value === undefined) throw new FieldError(path, "is required");
    const ts = value as Timestamp;
    const instant = instantFromParts(ts.seconds, ts.nanos);
    if (instant === undefined) throw new FieldError(path, "is out of range (years 0001-9999)");
    return instant;
  },
};

/**
 * An integer in min..max over the proto. In JSON any integer at least `jsonMin` (the
 * original's i64/u64 took them all); one beyond 2^53-1 is read rounded, so where that
 * matters (seq) the caller refuses it as unsafe input.
 */
function integer(min: number, max: number, what: string, jsonMin: number): FieldCodec<number> {
  const check = (n: number, path: string): number => {
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new FieldError(path, `must be ${what} in ${min}..${max}`);
    }
    return n;
  };
  return {
    json(value, path) {
      if (value === undefined || value === null) throw new FieldError(path, "is required");
      if (typeof value !== "number" || !Number.isInteger(value) || value < jsonMin) {
        throw new FieldError(
          path,
          jsonMin === 0 ? `must be a non-negative integer` : `must be an integer`,
        );
      }
      return value;
    },
    proto(value, path) {
      if (typeof value === "bigint") {
        if (value > BigInt(max) || value < BigInt(min)) check(Number.NaN, path);
        return Number(value);
      }
      return check(value as number, path);
    },
  };
}

/** A signed 32-bit integer such as an exit code (0 is a value, never "missing"). */
export const int32 = integer(-2147483648, 2147483647, "an int32", Number.NEGATIVE_INFINITY);
/** A count of seconds up to 2^53-1. */
export const uint53 = integer(0, MAX_SAFE, "a non-negative integer", 0);
/** An event seq: 1..2^53-1 in proto; any u64 in JSON (0 is never above a record's seq). */
export const seq = integer(1, MAX_SAFE, "an integer", 0);

/**
 * An enum whose wire names are `<PREFIX>_<VALUE>` in proto and the domain spelling in JSON
 * (lowercase, `-` for `_`), e.g. PROBE_MODE_ENFORCE ⇔ "enforce".
 */
export function enumOf<T extends string>(desc: DescEnum, domain: readonly T[]): FieldCodec<T> {
  const prefix = `${desc.values[0]?.name.replace(/_UNSPECIFIED$/, "")}_`;
  const byNumber = new Map<number, T>();
  for (const v of desc.values) {
    const spelled = v.name.slice(prefix.length).toLowerCase().replaceAll("_", "-");
    const match = domain.find((d) => d === spelled);
    if (match !== undefined) byNumber.set(v.number, match);
  }
  const allowed = domain.map((d) => `"${d}"`).join(", ");
  return {
    json(value, path) {
      if (value === undefined || value === null) throw new FieldError(path, "is required");
      const match = domain.find((d) => d === value);
      if (match === undefined) throw new FieldError(path, `must be one of ${allowed}`);
      return match;
    },
    proto(value, path) {
      const match = byNumber.get(value as number);
      if (match === undefined) {
        throw new FieldError(
          path,
          value === 0 ? "is required" : `unknown enum value ${String(value)}`,
        );
      }
      return match;
    },
  };
}

/** A strict enum over the proto, any string in JSON (the original took any). */
export function openEnumOf<T extends string>(
  desc: DescEnum,
  domain: readonly T[],
): FieldCodec<string> {
  const inner = enumOf(desc, domain);
  return { json: requireString, proto: inner.proto };
}

/** An optional enum (absent/null in JSON, unset in proto). */
export function optionalEnumOf<T extends string>(
  desc: DescEnum,
  domain: readonly T[],
): FieldCodec<T | undefined> {
  const inner = enumOf(desc, domain);
  return {
    json: (value, path) =>
      value === undefined || value === null ? undefined : inner.json(value, path),
    proto: (value, path) => (value === undefined ? undefined : inner.proto(value, path)),
  };
}

/** A list (of up to `max` items over the proto; any length in JSON); absent means empty. */
export function listOf<T>(item: FieldCodec<T>, max: number, allowNull = false): FieldCodec<T[]> {
  const read = (
    value: unknown,
    path: string,
    each: (v: unknown, p: string) => T,
    max: number,
  ): T[] => {
    if (value === undefined || (allowNull && value === null)) return [];
    if (!Array.isArray(value)) throw new FieldError(path, "must be an array");
    if (value.length > max) throw new FieldError(path, `must have at most ${max} items`);
    return value.map((v, i) => each(v, `${path}[${i}]`));
  };
  return {
    json: (value, path) => read(value, path, item.json, Number.POSITIVE_INFINITY),
    proto: (value, path) => read(value, path, item.proto, max),
  };
}

/** Field codecs of an object, keyed by the field's camelCase name (shared by JSON and proto-es). */
export type Fields = Record<string, FieldCodec<unknown>>;

/** A nested object read field by field; fields that read as undefined are left out. */
export function objectOf<T>(fields: Fields): FieldCodec<T> {
  const read = (value: unknown, path: string, json: boolean): T => {
    if (value === undefined || value === null) throw new FieldError(path, "is required");
    if (typeof value !== "object" || Array.isArray(value))
      throw new FieldError(path, "must be an object");
    return readFields(fields, value as Record<string, unknown>, path, json) as T;
  };
  return {
    json: (value, path) => read(value, path, true),
    proto: (value, path) => read(value, path, false),
  };
}

/** Reads every field of `source` per `fields`, prefixing paths with `prefix.`. */
export function readFields(
  fields: Fields,
  source: Record<string, unknown>,
  prefix: string,
  json: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in fields) {
    const codec = fields[name] as FieldCodec<unknown>;
    const path = prefix === "" ? name : `${prefix}.${name}`;
    const value = json ? codec.json(source[name], path) : codec.proto(source[name], path);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
