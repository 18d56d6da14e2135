// A strict walk over protobuf binary before protobuf-es reads it: protobuf-es accepts varints
// longer than 10 bytes and 10-byte varints carrying bits above 64 (a seq silently truncated),
// so every varint, tag, length and group of the message and its known sub-messages is checked.
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/** What is wrong with a request message, with the field path when one is known. */
export interface WireProblem {
  readonly field?: string;
  readonly message: string;
}

class Problem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 64;
const VARINT_SCALARS = new Set<ScalarType>([
  ScalarType.INT32,
  ScalarType.INT64,
  ScalarType.UINT32,
  ScalarType.UINT64,
  ScalarType.SINT32,
  ScalarType.SINT64,
  ScalarType.BOOL,
]);

const byNumber = new WeakMap<DescMessage, Map<number, DescField>>();
function fieldOf(desc: DescMessage | undefined, no: number): DescField | undefined {
  if (desc === undefined) return undefined;
  let map = byNumber.get(desc);
  if (map === undefined) {
    map = new Map(desc.fields.map((f) => [f.number, f]));
    byNumber.set(desc, map);
  }
  return map.get(no);
}

/** Checks `bytes` as an encoding of `desc`; undefined when the framing is strict. */
export function binaryProblem(desc: DescMessage, bytes: Uint8Array): WireProblem | undefined {
  const reader = { bytes, pos: 0 };
  try {
    walk(reader, desc, bytes.length, "", 0, undefined);
    return undefined;
  } catch (error) {
    if (error instanceof Problem) {
      return error.field === ""
        ? { message: `parse binary: ${error.message}` }
        : { field: error.field, message: `${error.field}: parse binary: ${error.message}` };
    }
    throw error;
  }
}

interface Reader {
  readonly bytes: Uint8Array;
  pos: number;
}

/** Reads a varint of at most 10 bytes whose value fits in 64 bits; returns it as a number when small. */
function varint(r: Reader, end: number, path: string): number {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= end) throw new Problem(path, "truncated varint");
    const b = r.bytes[r.pos++] as number;
    // The 10th byte holds bit 63 only: any higher bit, or a continuation, overflows 64 bits.
    if (i === 9 && b > 1) throw new Problem(path, "varint exceeds 64 bits");
    if (i < 7) value += (b & 0x7f) * 2 ** (7 * i);
    else value = Number.MAX_SAFE_INTEGER;
    if ((b & 0x80) === 0) return value;
  }
  throw new Problem(path, "varint exceeds 64 bits");
}

function join(path: string, field: DescField | undefined, no: number): string {
  const name = field === undefined ? `#${no}` : field.jsonName;
  return path === "" ? name : `${path}.${name}`;
}

function walk(
  r: Reader,
  desc: DescMessage | undefined,
  end: number,
  path: string,
  depth: number,
  group: number | undefined,
): void {
  if (depth > MAX_DEPTH) throw new Problem(path, `nested deeper than ${MAX_DEPTH}`);
  while (r.pos < end) {
    const tag = varint(r, end, path);
    if (tag > 0xffffffff) throw new Problem(path, "tag exceeds 32 bits");
    const no = Math.floor(tag / 8);
    const wireType = tag % 8;
    const field = fieldOf(desc, no);
    const here = join(path, field, no);
    if (no === 0) throw new Problem(path, "field number 0 is not allowed");
    if (field !== undefined && !wireTypeFits(field, wireType)) {
      throw new Problem(here, `wire type ${wireType} does not match the field's type`);
    }
    switch (wireType) {
      case 0:
        varint(r, end, here);
        break;
      case 1:
        skip(r, end, 8, here);
        break;
      case 5:
        skip(r, end, 4, here);
        break;
      case 2: {
        const length = varint(r, end, here);
        if (length > end - r.pos) throw new Problem(here, "truncated length-delimited field");
        const stop = r.pos + length;
        const sub = field?.message;
        if (sub !== undefined && field?.fieldKind !== "map") {
          walk(r, sub, stop, here, depth + 1, undefined);
        } else if (
          field?.fieldKind === "list" &&
          field.listKind === "scalar" &&
          VARINT_SCALARS.has(field.scalar)
        ) {
          while (r.pos < stop) varint(r, stop, here);
        } else if (field?.fieldKind === "map") {
          walk(r, undefined, stop, here, depth + 1, undefined);
        }
        r.pos = stop;
        break;
      }
      case 3:
        walk(r, field?.message, end, here, depth + 1, no);
        break;
      case 4:
        if (group !== no) throw new Problem(here, "end-group tag without its start");
        return;
      default:
        throw new Problem(here, `invalid wire type ${wireType}`);
    }
  }
  if (group !== undefined) throw new Problem(path, "group is not closed");
}

const FIXED64 = new Set<ScalarType>([ScalarType.FIXED64, ScalarType.SFIXED64, ScalarType.DOUBLE]);
const FIXED32 = new Set<ScalarType>([ScalarType.FIXED32, ScalarType.SFIXED32, ScalarType.FLOAT]);

/** Whether a known field may arrive with this wire type (packed and unpacked lists both may). */
function wireTypeFits(field: DescField, wireType: number): boolean {
  const scalarType = (scalar: ScalarType | undefined, list: boolean): number[] => {
    if (scalar === undefined) return [0, 2];
    const one = VARINT_SCALARS.has(scalar)
      ? 0
      : FIXED64.has(scalar)
        ? 1
        : FIXED32.has(scalar)
          ? 5
          : 2;
    return list && one !== 2 ? [one, 2] : [one];
  };
  switch (field.fieldKind) {
    case "message":
      return wireType === 2 || wireType === 3;
    case "map":
      return wireType === 2;
    case "enum":
      return wireType === 0;
    case "scalar":
      return scalarType(field.scalar, false).includes(wireType);
    case "list":
      if (field.listKind === "message") return wireType === 2 || wireType === 3;
      if (field.listKind === "enum") return wireType === 0 || wireType === 2;
      return scalarType(field.scalar, true).includes(wireType);
    default:
      return true;
  }
}

function skip(r: Reader, end: number, n: number, path: string): void {
  if (end - r.pos < n) throw new Problem(path, "truncated fixed-width field");
  r.pos += n;
}
