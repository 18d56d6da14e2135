// grpc-message as the gRPC spec encodes it: only bytes outside 0x20-0x7E and '%' escaped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import {
  encodeGrpcMessage,
  grpcStatusFields,
  respecGrpcMessage,
} from "../../../src/server/grpc-status.js";

const MESSAGE =
  'rolloutId: must be "<channel>@<ref>" with channel [a-z0-9_-]+, got "a/b?c#d&e=f;g"';

test("printable ASCII other than '%' stays literal", () => {
  assert.equal(encodeGrpcMessage(MESSAGE), MESSAGE);
  assert.equal(encodeGrpcMessage(" ~"), " ~");
});

test("'%', control characters and non-ASCII become %XX of their UTF-8 bytes", () => {
  assert.equal(encodeGrpcMessage("100%"), "100%25");
  assert.equal(encodeGrpcMessage("a\tb\nc\x7f"), "a%09b%0Ac%7F");
  assert.equal(encodeGrpcMessage("été ✓"), "%C3%A9t%C3%A9 %E2%9C%93");
});

test("Connect's encodeURIComponent value is rewritten to the spec's; a spec value stays", () => {
  for (const raw of [MESSAGE, "100% été\n", ""]) {
    const connect = setTrailerStatus(new Headers(), new ConnectError(raw, Code.InvalidArgument));
    assert.equal(respecGrpcMessage(connect).get("grpc-message"), encodeGrpcMessage(raw));
    assert.equal(respecGrpcMessage(connect).get("grpc-message"), encodeGrpcMessage(raw));
  }
  const notEncoded = new Headers({ "grpc-message": "50%off" });
  assert.equal(respecGrpcMessage(notEncoded).get("grpc-message"), "50%off");
});

test("status fields keep the code, the metadata and the details", () => {
  const error = new ConnectError(MESSAGE, Code.ResourceExhausted, { "retry-after": "1" });
  const fields = grpcStatusFields(error);
  assert.equal(fields.get("grpc-status"), "8");
  assert.equal(fields.get("grpc-message"), MESSAGE);
  assert.equal(fields.get("retry-after"), "1");
});
