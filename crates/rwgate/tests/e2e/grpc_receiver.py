"""A Thanos ingestor's gRPC write endpoint written with grpcio (PyPI), independent of
rwgate's code: it serves thanos.WriteableStore/RemoteWrite, decodes each WriteRequest
with the protobuf runtime from a schema declared here (Thanos' rpc.proto, the fields a
router sends), and appends what it got to a JSON-lines file.

Usage: grpc_receiver.py OUT_FILE [STATUS [TLS_DIR]]
  STATUS: a grpc.StatusCode name to answer every call with (default OK).
  TLS_DIR: serve TLS with TLS_DIR/server.crt and server.key, and require a client
  certificate signed by TLS_DIR/ca.crt.
Prints "port N" once it listens on 127.0.0.1:N.
"""

import json
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def schema():
    fd = descriptor_pb2.FileDescriptorProto(
        name="thanos_write.proto", package="thanos", syntax="proto3"
    )

    def message(name, fields):
        m = fd.message_type.add(name=name)
        for number, (fname, ftype, label, type_name) in enumerate(fields, start=1):
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    one, many = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("Label", [("name", F.TYPE_STRING, one, None), ("value", F.TYPE_STRING, one, None)])
    message("Sample", [("value", F.TYPE_DOUBLE, one, None), ("timestamp", F.TYPE_INT64, one, None)])
    message(
        "TimeSeries",
        [
            ("labels", F.TYPE_MESSAGE, many, ".thanos.Label"),
            ("samples", F.TYPE_MESSAGE, many, ".thanos.Sample"),
        ],
    )
    message(
        "WriteRequest",
        [
            ("timeseries", F.TYPE_MESSAGE, many, ".thanos.TimeSeries"),
            ("tenant", F.TYPE_STRING, one, None),
            ("replica", F.TYPE_INT64, one, None),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("thanos.WriteRequest"))


def main():
    out_path = sys.argv[1]
    status = grpc.StatusCode[sys.argv[2]] if len(sys.argv) > 2 else grpc.StatusCode.OK
    WriteRequest = schema()
    lock = threading.Lock()
    out = open(out_path, "a", encoding="utf-8")

    def remote_write(raw, context):
        req = WriteRequest.FromString(raw)
        record = {
            "tenant": req.tenant,
            "replica": req.replica,
            "status": status.name,
            "series": [
                {
                    "labels": [[l.name, l.value] for l in ts.labels],
                    "samples": [[s.timestamp, s.value] for s in ts.samples],
                }
                for ts in req.timeseries
            ],
        }
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()
        if status != grpc.StatusCode.OK:
            context.abort(status, "e2e receiver answers " + status.name)
        return b""  # an empty WriteResponse

    handler = grpc.method_handlers_generic_handler(
        "thanos.WriteableStore",
        {
            "RemoteWrite": grpc.unary_unary_rpc_method_handler(
                remote_write,
                request_deserializer=lambda b: b,
                response_serializer=lambda b: b,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    if len(sys.argv) > 3:
        tls = sys.argv[3]

        def read(name):
            with open(f"{tls}/{name}", "rb") as f:
                return f.read()

        creds = grpc.ssl_server_credentials(
            [(read("server.key"), read("server.crt"))],
            root_certificates=read("ca.crt"),
            require_client_auth=True,
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port", port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
