// Instants: parsing any RFC 3339 offset into the fixed-width UTC form, rejecting invalid
// dates, arithmetic, and the shortest-form formatting that round-trips.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  addSeconds,
  formatInstant,
  type Instant,
  instantFromEpochNanos,
  instantFromParts,
  instantToEpochNanos,
  instantToParts,
  parseInstant,
} from "../../../src/core/index.js";

const MIN_NANOS = instantToEpochNanos(parseInstant("0001-01-01T00:00:00Z")!);
const MAX_NANOS = instantToEpochNanos(parseInstant("9999-12-31T23:59:59.999999999Z")!);
const arbInstant = fc
  .bigInt({ min: MIN_NANOS, max: MAX_NANOS })
  .map((n) => instantFromEpochNanos(n)!);

describe("parseInstant", () => {
  test("0, 3, 6 and 9 fractional digits widen to nine", () => {
    assert.equal(parseInstant("2026-05-16T01:27:01Z"), "2026-05-16T01:27:01.000000000Z");
    assert.equal(parseInstant("2026-05-16T01:27:01.123Z"), "2026-05-16T01:27:01.123000000Z");
    assert.equal(parseInstant("2026-05-16T01:27:01.123456Z"), "2026-05-16T01:27:01.123456000Z");
    assert.equal(parseInstant("2026-05-16T01:27:01.123456789Z"), "2026-05-16T01:27:01.123456789Z");
    assert.equal(parseInstant("2026-05-16T01:27:01.5Z"), "2026-05-16T01:27:01.500000000Z");
  });

  test("offsets are converted to UTC, across day and year boundaries", () => {
    assert.equal(parseInstant("2026-05-16T03:27:01+02:00"), "2026-05-16T01:27:01.000000000Z");
    assert.equal(parseInstant("2026-05-15T19:57:01.25-05:30"), "2026-05-16T01:27:01.250000000Z");
    assert.equal(parseInstant("2026-01-01T00:30:00+01:00"), "2025-12-31T23:30:00.000000000Z");
    assert.equal(parseInstant("2024-02-28T23:00:00-01:00"), "2024-02-29T00:00:00.000000000Z");
    assert.equal(parseInstant("2026-05-16T01:27:01+00:00"), "2026-05-16T01:27:01.000000000Z");
    assert.equal(parseInstant("2026-05-16t01:27:01z"), "2026-05-16T01:27:01.000000000Z");
  });

  test("the same instant written with different offsets parses equal", () => {
    const texts = [
      "2026-05-16T01:27:01Z",
      "2026-05-16T10:27:01+09:00",
      "2026-05-15T21:27:01-04:00",
    ];
    assert.equal(new Set(texts.map(parseInstant)).size, 1);
  });

  test("leap days follow the Gregorian rules; years below 100 stay themselves", () => {
    assert.ok(parseInstant("2024-02-29T00:00:00Z"));
    assert.ok(parseInstant("2000-02-29T00:00:00Z"));
    assert.equal(parseInstant("1900-02-29T00:00:00Z"), undefined);
    assert.equal(parseInstant("2026-02-29T00:00:00Z"), undefined);
    assert.equal(parseInstant("0050-06-01T00:00:00Z"), "0050-06-01T00:00:00.000000000Z");
  });

  test("years 0001-9999 only, after applying the offset", () => {
    assert.equal(parseInstant("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00.000000000Z");
    assert.equal(parseInstant("9999-12-31T23:59:59.999999999Z"), "9999-12-31T23:59:59.999999999Z");
    assert.equal(parseInstant("0000-12-31T23:59:59Z"), undefined);
    assert.equal(parseInstant("0001-01-01T00:30:00+01:00"), undefined);
    assert.equal(parseInstant("9999-12-31T23:30:00-01:00"), undefined);
  });

  test("invalid dates and malformed text are refused", () => {
    for (const text of [
      "",
      "2026-05-16",
      "2026-05-16T01:27:01",
      "2026-05-16 01:27:01Z",
      "2026-5-16T01:27:01Z",
      "2026-13-01T00:00:00Z",
      "2026-00-01T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-05-00T00:00:00Z",
      "2026-05-32T00:00:00Z",
      "2026-05-16T24:00:00Z",
      "2026-05-16T01:60:00Z",
      "2026-05-16T01:27:60Z",
      "2026-05-16T01:27:01.Z",
      "2026-05-16T01:27:01.1234567890Z",
      "2026-05-16T01:27:01+24:00",
      "2026-05-16T01:27:01+01:60",
      "2026-05-16T01:27:01+0100",
      "10000-01-01T00:00:00Z",
      " 2026-05-16T01:27:01Z",
      "2026-05-16T01:27:01Z ",
    ]) {
      assert.equal(parseInstant(text), undefined, text);
    }
  });
});

describe("formatInstant", () => {
  test("uses the shortest of 0, 3, 6 or 9 digits that is exact", () => {
    const cases = [
      ["2026-05-16T01:27:01Z", "2026-05-16T01:27:01Z"],
      ["2026-05-16T01:27:01.100Z", "2026-05-16T01:27:01.100Z"],
      ["2026-05-16T01:27:01.000100Z", "2026-05-16T01:27:01.000100Z"],
      ["2026-05-16T01:27:01.000000100Z", "2026-05-16T01:27:01.000000100Z"],
      ["2026-05-16T01:27:01.5Z", "2026-05-16T01:27:01.500Z"],
      ["2026-05-16T03:27:01.123456+02:00", "2026-05-16T01:27:01.123456Z"],
    ];
    for (const [input, output] of cases) assert.equal(formatInstant(parseInstant(input!)!), output);
  });

  test("round trip: parseInstant(formatInstant(i)) === i", () => {
    fc.assert(fc.property(arbInstant, (i) => parseInstant(formatInstant(i)) === i));
  });
});

describe("arithmetic and order", () => {
  test("string order is time order", () => {
    fc.assert(
      fc.property(arbInstant, arbInstant, (a, b) => {
        const byNanos = Math.sign(Number(instantToEpochNanos(a) - instantToEpochNanos(b)));
        return byNanos === (a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  test("epoch nanos and parts round trip, before and after 1970", () => {
    fc.assert(
      fc.property(arbInstant, (i) => {
        const { seconds, nanos } = instantToParts(i);
        return (
          instantFromEpochNanos(instantToEpochNanos(i)) === i &&
          instantFromParts(seconds, nanos) === i
        );
      }),
    );
    assert.equal(instantToEpochNanos(parseInstant("1969-12-31T23:59:59.5Z")!), -500_000_000n);
    assert.equal(instantFromParts(0n, 1e9), undefined);
    assert.equal(instantFromParts(0n, -1), undefined);
  });

  test("addSeconds moves across days and clamps to years 0001-9999", () => {
    const t = parseInstant("2026-12-31T23:59:30.25Z")!;
    assert.equal(addSeconds(t, 45), "2027-01-01T00:00:15.250000000Z");
    assert.equal(addSeconds(t, -86_400), "2026-12-30T23:59:30.250000000Z");
    assert.equal(addSeconds(t, 0), t);
    const last = "9999-12-31T23:59:59.999999999Z" as Instant;
    const first = "0001-01-01T00:00:00.000000000Z" as Instant;
    assert.equal(addSeconds(parseInstant("9999-12-31T23:59:59Z")!, 5), last);
    assert.equal(addSeconds(first, -1), first);
  });
});
