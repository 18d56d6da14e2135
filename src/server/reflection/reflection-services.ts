// The two ServerReflection implementations (v1, and v1alpha which older tools such as grpcurl
// still use), sharing one index of the server's descriptors.
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ServerReflectionRequest as ServerReflectionRequestV1,
  ServerReflection as ServerReflectionV1,
} from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  type ServerReflectionRequest as ServerReflectionRequestV1alpha,
  ServerReflection as ServerReflectionV1alpha,
} from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createReflectionIndex, type ReflectionIndex } from "./reflection-index.js";
import { createReflectionResponder } from "./reflection-responder.js";

/** Implementations of both reflection services over the same descriptors. */
export interface ReflectionServices {
  readonly index: ReflectionIndex;
  readonly v1: ServiceImpl<typeof ServerReflectionV1>;
  readonly v1alpha: ServiceImpl<typeof ServerReflectionV1alpha>;
}

/**
 * Creates reflection over `services`, the services the server registers (include
 * grpc.health.v1.Health when it is registered). Both reflection services are added to the list
 * so they describe themselves, as grpc-go's do.
 */
export function createReflectionServices(services: readonly DescService[]): ReflectionServices {
  const index = createReflectionIndex([...services, ServerReflectionV1, ServerReflectionV1alpha]);
  return {
    index,
    v1: { serverReflectionInfo: (requests) => answerAll(index, requests) },
    v1alpha: { serverReflectionInfo: (requests) => answerAll(index, requests) },
  };
}

async function* answerAll<R extends ServerReflectionRequestV1 | ServerReflectionRequestV1alpha>(
  index: ReflectionIndex,
  requests: AsyncIterable<R>,
) {
  const respond = createReflectionResponder(index);
  for await (const request of requests) {
    yield {
      validHost: request.host,
      originalRequest: request,
      messageResponse: respond(request.messageRequest),
    };
  }
}
