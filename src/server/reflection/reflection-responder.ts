// Answers the requests of one ServerReflectionInfo stream. It is version-neutral: v1 and v1alpha
// messages have the same shape, so both services share it.
import type { DescFile } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ReflectionIndex } from "./reflection-index.js";

/** The `message_request` oneof of a v1 or v1alpha ServerReflectionRequest. */
export type ReflectionRequest =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | {
      case: "fileContainingExtension";
      value: { containingType: string; extensionNumber: number };
    }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** The `message_response` oneof of a v1 or v1alpha ServerReflectionResponse, as an init shape. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Answers one request; throws a ConnectError only for a request that selects nothing. */
export type ReflectionResponder = (request: ReflectionRequest) => ReflectionAnswer;

/**
 * Creates the responder for one stream. It remembers which files the stream already received and
 * leaves them out of later answers, except the file asked for, which grpc-go always sends.
 */
export function createReflectionResponder(index: ReflectionIndex): ReflectionResponder {
  const sent = new Set<string>();

  const withImports = (file: DescFile): ReflectionAnswer => {
    const bytes: Uint8Array[] = [index.encode(file)];
    sent.add(file.proto.name);
    // Breadth-first like grpc-go, so clients see direct imports before their imports.
    const queue = [...file.dependencies];
    const visited = new Set([file.proto.name]);
    for (let dep = queue.shift(); dep !== undefined; dep = queue.shift()) {
      if (visited.has(dep.proto.name)) continue;
      visited.add(dep.proto.name);
      if (!sent.has(dep.proto.name)) {
        sent.add(dep.proto.name);
        bytes.push(index.encode(dep));
      }
      queue.push(...dep.dependencies);
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: bytes } };
  };

  const notFound = (what: string): ReflectionAnswer => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
  });

  return (request) => {
    switch (request.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: index.serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = index.fileByName(request.value);
        return file ? withImports(file) : notFound(`file ${JSON.stringify(request.value)}`);
      }
      case "fileContainingSymbol": {
        const file = index.fileContainingSymbol(request.value);
        return file ? withImports(file) : notFound(`symbol ${JSON.stringify(request.value)}`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = request.value;
        const file = index.fileContainingExtension(containingType, extensionNumber);
        return file
          ? withImports(file)
          : notFound(`extension ${extensionNumber} of ${JSON.stringify(containingType)}`);
      }
      case "allExtensionNumbersOfType": {
        const numbers = index.extensionNumbersOf(request.value);
        return numbers
          ? {
              case: "allExtensionNumbersResponse",
              value: { baseTypeName: request.value, extensionNumber: [...numbers] },
            }
          : notFound(`type ${JSON.stringify(request.value)}`);
      }
      case undefined:
        // grpc-go ends the stream here too: a request that asks nothing cannot be answered.
        throw new ConnectError("reflection request sets no message_request", Code.InvalidArgument);
    }
  };
}
