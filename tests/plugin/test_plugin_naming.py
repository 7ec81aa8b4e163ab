"""Names: snake_case conversion and protoc-compatible module names/aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from gorums_h2.protoc_plugin import naming


@pytest.mark.parametrize(("proto", "python"), [
    ("ReadQC", "read_qc"),
    ("ReadRPC", "read_rpc"),
    ("WriteMulticast", "write_multicast"),
    ("StartServerBenchmark", "start_server_benchmark"),
    ("GRPCCall", "grpc_call"),
    ("HTTPServer", "http_server"),
    ("QuorumCall2", "quorum_call2"),
    ("QuorumCallEmpty2", "quorum_call_empty2"),
    ("Read_QC", "read_qc"),
    ("readQC", "read_qc"),
    ("read", "read"),
    ("ID", "id"),
    ("GetIDs", "get_ids"),
    ("NodeIDsByName", "node_ids_by_name"),
    ("ReadQCs", "read_qcs"),
])
def test_snake_case(proto: str, python: str) -> None:
    assert naming.snake_case(proto) == python


def test_keywords_get_a_trailing_underscore() -> None:
    assert naming.safe_identifier("pass") == "pass_"
    assert naming.safe_identifier("import") == "import_"
    assert naming.safe_identifier("match") == "match"  # soft keyword: a valid name
    assert naming.safe_identifier("read_qc") == "read_qc"


@pytest.mark.parametrize(("path", "module", "alias", "statement", "output"), [
    ("x.proto", "x_pb2", "x__pb2", "import x_pb2 as x__pb2", "x_gorums.py"),
    ("a/b/c.proto", "a.b.c_pb2", "a_dot_b_dot_c__pb2",
     "from a.b import c_pb2 as a_dot_b_dot_c__pb2", "a/b/c_gorums.py"),
    ("my-svc.proto", "my_svc_pb2", "my__svc__pb2", "import my_svc_pb2 as my__svc__pb2",
     "my_svc_gorums.py"),
    ("google/protobuf/empty.proto", "google.protobuf.empty_pb2",
     "google_dot_protobuf_dot_empty__pb2",
     "from google.protobuf import empty_pb2 as google_dot_protobuf_dot_empty__pb2",
     "google/protobuf/empty_gorums.py"),
])
def test_module_names(path: str, module: str, alias: str, statement: str, output: str) -> None:
    assert naming.module_name(path) == module
    assert naming.module_alias(path) == alias
    assert naming.import_statement(path) == statement
    assert naming.output_name(path) == output


def test_import_statements_are_the_ones_protoc_writes(generated: Path) -> None:
    """protoc's own Python generator imports dependencies exactly as we do."""
    storage = (generated / "plugintest_storage_pb2.py").read_text()
    zorums = (generated / "zorums" / "zorums_pb2.py").read_text()
    for text, deps in [
        (storage, ["gorums.proto", "google/protobuf/empty.proto",
                   "google/protobuf/timestamp.proto"]),
        (zorums, ["gorums.proto", "google/protobuf/empty.proto", "zorums/types.proto"]),
    ]:
        for dep in deps:
            assert naming.import_statement(dep) + "\n" in text, dep


def test_generated_modules_sit_beside_protocs(generated: Path) -> None:
    for proto in ["plugintest_storage.proto", "zorums/zorums.proto"]:
        gorums = generated / naming.output_name(proto)
        pb2 = generated / (naming.module_name(proto).replace(".", "/") + ".py")
        assert gorums.is_file() and pb2.is_file()
        assert gorums.parent == pb2.parent
        assert naming.import_statement(proto) + "\n" in gorums.read_text()
