"""Bad .proto files make protoc fail with the plugin's error naming file and method.

Each case is compiled with the real protoc (``gorums-h2 protoc``); the plugin
reports problems in ``CodeGeneratorResponse.error``, which protoc prints
after ``--gorums_py_out:`` before exiting with status 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _plugin_kit import gorums_protoc, write_proto

GOOD = "message M {}\nservice S { rpc X(M) returns (M) {} }\n"

TWO_OPTIONS = """package e;
message M {}
service S {
  rpc Both(M) returns (M) {
    option (gorums.rpc) = true;
    option (gorums.quorumcall) = true;
  }
}
"""

CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "two call-type options": (
        {"e.proto": TWO_OPTIONS},
        ["e.proto: method e.S.Both: more than one call type option "
         "(gorums.rpc, gorums.quorumcall)"]),
    "three call-type options": (
        {"e.proto": """package e;
message M {}
service S {
  rpc Many(M) returns (M) {
    option (gorums.unicast) = true;
    option (gorums.multicast) = true;
    option (gorums.quorumcall) = true;
  }
}
"""},
        ["e.proto: method e.S.Many: more than one call type option "
         "(gorums.unicast, gorums.multicast, gorums.quorumcall)"]),
    "client streaming": (
        {"e.proto": """package e;
message M {}
service S {
  rpc Up(stream M) returns (M) { option (gorums.quorumcall) = true; }
}
"""},
        ["e.proto: method e.S.Up: client streaming", "not supported by gorums"]),
    "bidirectional streaming": (
        {"e.proto": """package e;
message M {}
service S { rpc Both(stream M) returns (stream M) {} }
"""},
        ["e.proto: method e.S.Both: client streaming"]),
    "server streaming without an option": (
        {"e.proto": """package e;
message M {}
service S { rpc Down(M) returns (stream M) {} }
"""},
        ["e.proto: method e.S.Down: server streaming ('returns (stream Resp)') requires the "
         "gorums.quorumcall option"]),
    "server streaming with multicast": (
        {"e.proto": """package e;
message M {}
service S { rpc Down(M) returns (stream M) { option (gorums.multicast) = true; } }
"""},
        ["e.proto: method e.S.Down: server streaming", "(it has gorums.multicast)"]),
    "two methods with one snake_case name": (
        {"e.proto": """package e;
message M {}
service S {
  rpc ReadQC(M) returns (M) {}
  rpc Read_QC(M) returns (M) {}
}
"""},
        ["e.proto: generated name 'read_qc' in e_gorums.py would be both the client function "
         "of method e.S.ReadQC and the client function of method e.S.Read_QC"]),
    "same method name in two services": (
        {"e.proto": """package e;
message M {}
service A { rpc Get(M) returns (M) {} }
service B { rpc Get(M) returns (M) {} }
"""},
        ["generated name 'get'", "method e.A.Get", "method e.B.Get"]),
    "method named like the register function": (
        {"e.proto": """package e;
message M {}
service Store { rpc RegisterStoreServer(M) returns (M) {} }
"""},
        ["generated name 'register_store_server'", "method e.Store.RegisterStoreServer",
         "the registration function of service e.Store"]),
    "method named like an import": (
        {"clash.proto": """package e;
message M {}
service S { rpc Clash__Pb2(M) returns (M) {} }
"""},
        ["clash.proto: generated name 'clash__pb2'", "method e.S.Clash__Pb2",
         "the import of clash_pb2"]),
    "method named like the runtime import": (
        {"e.proto": """package e;
message M {}
service S { rpc GorumsH2(M) returns (M) {} }
"""},
        ["generated name 'gorums_h2'", "method e.S.GorumsH2", "the gorums_h2 import"]),
    "type aliases that clash": (
        {"b.proto": 'syntax = "proto3";\npackage b;\nmessage Response {}\n',
         "a.proto": """package a;
import "b.proto";
message M {}
message Response {}
message a_Response {}
service S {
  rpc One(M) returns (Response) { option (gorums.quorumcall) = true; }
  rpc Two(M) returns (b.Response) { option (gorums.quorumcall) = true; }
  rpc Three(M) returns (a_Response) { option (gorums.quorumcall) = true; }
}
"""},
        ["a.proto: generated name 'a_ResponseAsync'", "Async type alias of a.Response",
         "Async type alias of a.a_Response", "generated name 'a_ResponseCorrectable'"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_proto_fails_with_a_precise_error(tmp_path: Path, case: str) -> None:
    files, expected = CASES[case]
    for name, body in files.items():
        if body.startswith("syntax"):
            (tmp_path / name).write_text(body)
        else:
            write_proto(tmp_path, name, body)
    target = [n for n in files if n != "b.proto"]
    out = tmp_path / "out"
    out.mkdir()
    run = gorums_protoc(["-I.", f"--python_out={out}", f"--gorums_py_out={out}", *target],
                        cwd=tmp_path)
    assert run.returncode == 1, run
    assert "--gorums_py_out: " in run.stderr
    for text in expected:
        assert text in run.stderr, (text, run.stderr)
    assert not list(out.rglob("*_gorums.py"))


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    write_proto(tmp_path, "one.proto", TWO_OPTIONS)
    write_proto(tmp_path, "two.proto", """package t;
message M {}
service S {
  rpc Up(stream M) returns (M) {}
  rpc Down(M) returns (stream M) { option (gorums.unicast) = true; }
}
""")
    write_proto(tmp_path, "good.proto", f"package g;\n{GOOD}")
    run = gorums_protoc(["--python_out=.", "--gorums_py_out=.", "one.proto", "two.proto",
                         "good.proto"], cwd=tmp_path)
    assert run.returncode == 1
    for text in ["one.proto: method e.S.Both", "two.proto: method t.S.Up",
                 "two.proto: method t.S.Down"]:
        assert text in run.stderr, run.stderr
    assert not list(tmp_path.glob("*_gorums.py"))


def test_plugin_parameters_are_rejected(tmp_path: Path) -> None:
    write_proto(tmp_path, "p.proto", f"package p;\n{GOOD}")
    run = gorums_protoc(["--python_out=.", "--gorums_py_out=.",
                         "--gorums_py_opt=paths=source_relative", "p.proto"], cwd=tmp_path)
    assert run.returncode == 1
    assert "unknown parameter 'paths=source_relative'" in run.stderr
