"""The generator in-process: requests built from real protoc descriptor sets."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from _plugin_kit import PROTO_FILES, PROTOS, write_proto
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.compiler import plugin_pb2

from gorums_h2.cli.protoc import INCLUDE, find_protoc
from gorums_h2.codec.methods import call_type_of
from gorums_h2.protoc_plugin import generate
from gorums_h2.protoc_plugin.model import classify
from gorums_h2.protoc_plugin.render import escape_docstring


def descriptor_set(cwd: Path, files: list[str],
                   out_dir: Path | None = None) -> descriptor_pb2.FileDescriptorSet:
    out = (out_dir or cwd) / "set.pb"
    subprocess.run(
        [str(find_protoc()), "-I.", f"-I{INCLUDE}", "--include_imports",
         "--include_source_info", f"--descriptor_set_out={out}", *files],
        cwd=cwd, check=True, capture_output=True)
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def request(cwd: Path, files: list[str], parameter: str = "") -> plugin_pb2.CodeGeneratorRequest:
    fds = descriptor_set(cwd, files)
    return plugin_pb2.CodeGeneratorRequest(
        file_to_generate=files, proto_file=fds.file, parameter=parameter)


def generated_files(cwd: Path, body: str, name: str = "m.proto") -> dict[str, str]:
    write_proto(cwd, name, body)
    resp = generate(request(cwd, [name]))
    assert not resp.error, resp.error
    return {f.name: f.content for f in resp.file}


def test_call_types_agree_with_the_runtimes_classification(tmp_path: Path) -> None:
    """The generator and gorums_h2.codec.methods read the options the same way."""
    fds = descriptor_set(PROTOS, PROTO_FILES, tmp_path)
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    checked = 0
    for f in fds.file:
        for svc in f.service:
            for m in svc.method:
                full = f"{f.package}.{svc.name}.{m.name}"
                assert classify(m).name == call_type_of(pool.FindMethodByName(full)).name, full
                checked += 1
    assert checked == 25


def test_response_declares_features_and_editions(tmp_path: Path) -> None:
    write_proto(tmp_path, "m.proto", "package m;\nmessage M {}\n")
    resp = generate(request(tmp_path, ["m.proto"]))
    assert resp.supported_features == (
        plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
        | plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS)
    assert resp.minimum_edition == descriptor_pb2.EDITION_PROTO2
    assert resp.maximum_edition == descriptor_pb2.EDITION_2024
    assert not resp.error and not resp.file  # no services, no file


def test_keyword_method_names_get_an_underscore(tmp_path: Path) -> None:
    code = generated_files(tmp_path, """package m;
message M {}
service S {
  rpc Pass(M) returns (M) {}
  rpc Import(M) returns (M) { option (gorums.quorumcall) = true; }
}
""")["m_gorums.py"]
    tree = ast.parse(code)
    funcs = {n.name for n in tree.body if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)}
    assert {"pass_", "import_", "register_s_server"} <= funcs
    proto = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SServer")
    assert [f.name for f in proto.body if isinstance(f, ast.AsyncFunctionDef)] == [
        "pass_", "import_"]


def test_comments_become_docstrings_verbatim(tmp_path: Path) -> None:
    code = generated_files(tmp_path, '''package m;
message M {}
// The service.
//   Indented "line" with \\\\n and """triple""" quotes.
service S {
  // Read reads.
  // It ends with a quote: "x"
  rpc Read(M) returns (M) {}
  rpc NoComment(M) returns (M) {}
}
''')["m_gorums.py"]
    tree = ast.parse(code)
    docs = {n.name: ast.get_docstring(n, clean=True) for n in tree.body
            if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef | ast.ClassDef)}
    assert docs["read"] == (
        'Read reads.\nIt ends with a quote: "x"\n\nGorums ordered RPC ``m.S.Read``.')
    assert docs["no_comment"] == (
        "Call the node in ``ctx`` and return its reply.\n\nGorums ordered RPC ``m.S.NoComment``.")
    assert docs["SServer"] is not None
    assert docs["SServer"].startswith(
        'The service.\n  Indented "line" with \\\\n and """triple""" quotes.\n\n')
    proto = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    method_docs = [ast.get_docstring(f) for f in proto.body if isinstance(f, ast.AsyncFunctionDef)]
    assert method_docs == ['Read reads.\nIt ends with a quote: "x"',
                           "Handle one ``NoComment`` request (ordered RPC): return the reply."]


@pytest.mark.parametrize("text", [
    'a"', '"""', '""""', '""""""', "back\\slash", 'x""', '\\"""', 'a\\"', "end\\", '"start',
    "plain",
])
def test_escaped_docstrings_round_trip(text: str) -> None:
    value = ast.literal_eval('"""' + escape_docstring(text) + '"""')
    assert value == text


def test_own_module_import_is_kept_when_unused(tmp_path: Path) -> None:
    """Only well-known types in signatures: the _pb2 import still registers the service."""
    code = generated_files(tmp_path, """package m;
service S { rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty) {} }
""")["m_gorums.py"]
    assert "import m_pb2 as m__pb2  # noqa: F401\n" in code
    assert "from google.protobuf import empty_pb2 as google_dot_protobuf_dot_empty__pb2\n" in code


def test_service_without_methods_and_file_without_package(tmp_path: Path) -> None:
    code = generated_files(tmp_path, """message M {}
service Idle {}
service S { rpc Get(M) returns (M) { option (gorums.unicast) = true; } }
""")["m_gorums.py"]
    compile(code, "m_gorums.py", "exec")
    assert "class IdleServer(Protocol):" in code
    assert "def register_idle_server(srv: gorums_h2.Server, impl: IdleServer) -> None:" in code
    assert 'await gorums_h2.unicast(ctx, req, "S.Get", ignore_errors=ignore_errors)' in code
    # unicast only: no Sequence/Any/TypeAlias imports, no aliases
    assert "from collections.abc" not in code and "TypeAlias" not in code


def test_same_short_response_name_in_two_packages_is_disambiguated(tmp_path: Path) -> None:
    (tmp_path / "b.proto").write_text('syntax = "proto3";\npackage b;\nmessage Response {}\n')
    code = generated_files(tmp_path, """package a;
import "b.proto";
message M {}
message Response {}
service S {
  rpc One(M) returns (Response) { option (gorums.quorumcall) = true; }
  rpc Two(M) returns (b.Response) { option (gorums.quorumcall) = true; }
}
""", name="a.proto")["a_gorums.py"]
    assert "a_ResponseAsync: TypeAlias = gorums_h2.Async[a__pb2.Response]\n" in code
    assert "b_ResponseCorrectable: TypeAlias = gorums_h2.Correctable[b__pb2.Response]\n" in code


def test_unknown_requested_file_is_an_error(tmp_path: Path) -> None:
    write_proto(tmp_path, "m.proto", "package m;\nmessage M {}\n")
    req = request(tmp_path, ["m.proto"])
    req.file_to_generate.append("missing.proto")
    assert generate(req).error == "missing.proto: not in the request's proto_file list"


def test_parameter_is_an_error(tmp_path: Path) -> None:
    write_proto(tmp_path, "m.proto", "package m;\nmessage M {}\n")
    resp = generate(request(tmp_path, ["m.proto"], parameter="x=1"))
    assert resp.error.startswith("unknown parameter 'x=1'")
    assert not resp.file


def test_plugin_and_runtime_share_one_call_type_table() -> None:
    from gorums_h2.codec import CallType as RuntimeCallType
    from gorums_h2.protoc_plugin.model import CallType as PluginCallType

    assert PluginCallType is RuntimeCallType
