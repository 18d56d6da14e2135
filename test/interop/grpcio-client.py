# Python grpcio, the C-core gRPC client, as an agent would use it: sends the serialized
# requests given on stdin (one hex string per line, all at once) to one method over mTLS and
# prints one JSON line per answer: code name, details, retry-after, RetryInfo presence.
import json
import sys

import grpc

port, ca, cert, key, method = sys.argv[1:6]
requests = [bytes.fromhex(line.strip()) for line in sys.stdin if line.strip()]


def read(path):
    with open(path, "rb") as f:
        return f.read()


credentials = grpc.ssl_channel_credentials(read(ca), read(key), read(cert))
with grpc.secure_channel(
    f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
) as channel:
    call = channel.unary_unary(method)
    futures = [call.future(r, timeout=30) for r in requests]
    for future in futures:
        try:
            future.result()
            print(json.dumps({"code": "OK"}))
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata() or ())
            print(
                json.dumps(
                    {
                        "code": error.code().name,
                        "details": error.details(),
                        "retryAfter": trailers.get("retry-after"),
                        "statusDetailsBin": "grpc-status-details-bin" in trailers,
                    }
                )
            )
