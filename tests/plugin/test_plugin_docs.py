"""docs/getting-started.md works as written.

The blocks marked ``<!-- file: NAME -->`` are written to a directory, the
``<!-- run -->`` command generates the code with ``gorums-h2 protoc``, three
``storage_server.py`` processes listen on free ports, and the
``<!-- client -->`` command's output must be the ``text`` block after it
(per-node lines in any order, node IDs those of the actual ports). The
server and client also pass ``mypy --strict``, with no mypy configuration.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _plugin_kit import gorums_h2_script

import gorums_h2

REPO = Path(gorums_h2.__file__).resolve().parent.parent
DOC = REPO / "docs" / "getting-started.md"
BLOCK = re.compile(r"^<!-- (file: (?P<file>\S+)|run|client) -->\n```\w*\n(?P<body>.*?)^```\n",
                   re.M | re.S)
NODE_LINE = re.compile(r"^  node (\d+) -> (.*)$")


def doc_blocks() -> tuple[dict[str, str], list[str], str, str]:
    text = DOC.read_text()
    files: dict[str, str] = {}
    run: list[str] = []
    client = ""
    for m in BLOCK.finditer(text):
        if m["file"]:
            files[m["file"]] = m["body"]
        elif m.group(0).startswith("<!-- run"):
            run.append(m["body"].strip())
        else:
            client = m["body"].strip()
    expected = text[text.index(client):].split("```text\n", 1)[1].split("```", 1)[0]
    return files, run, client, expected


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    files, run, _client, _expected = doc_blocks()
    assert set(files) == {"storage.proto", "storage_server.py", "storage_client.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    for cmd in run:
        args = shlex.split(cmd)
        assert args[0] == "gorums-h2"
        subprocess.run([gorums_h2_script(), *args[1:]], cwd=tmp_path, check=True, timeout=60)
    procs = [subprocess.Popen([sys.executable, "storage_server.py", "0"], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        addrs = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            m = re.fullmatch(r"listening on (\S+)\n", line)
            assert m, line
            addrs.append(m[1])
        yield tmp_path, addrs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def split_node_lines(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    lines, nodes = [], []
    for line in text.strip().splitlines():
        m = NODE_LINE.match(line)
        if m:
            lines.append("  node <id> -> <value>")
            nodes.append((int(m[1]), m[2]))
        else:
            lines.append(line)
    return lines, nodes


def test_the_guide_runs_as_written(servers: tuple[Path, list[str]]) -> None:
    cwd, addrs = servers
    _files, _run, client, expected = doc_blocks()
    args = shlex.split(client)
    assert args[:2] == ["python", "storage_client.py"] and len(args[2:]) == len(addrs)
    proc = subprocess.run([sys.executable, "storage_client.py", *addrs], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    got_lines, got_nodes = split_node_lines(proc.stdout)
    want_lines, want_nodes = split_node_lines(expected)
    assert got_lines == want_lines
    # the guide shows ports 8080-8082; here the servers have free ports
    assert sorted(i for i, _ in want_nodes) == sorted(
        gorums_h2.node_id_for(f"127.0.0.1:{p}") for p in (8080, 8081, 8082))
    assert sorted(got_nodes) == sorted(
        (gorums_h2.node_id_for(a), v) for a, (_i, v) in zip(addrs, want_nodes, strict=True))


def test_the_guides_code_passes_mypy_strict(tmp_path: Path) -> None:
    files, run, _client, _expected = doc_blocks()
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    for cmd in run:
        subprocess.run([gorums_h2_script(), *shlex.split(cmd)[1:]], cwd=tmp_path, check=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file=", "--cache-dir",
         str(tmp_path / ".cache"), "-m", "storage_server", "-m", "storage_client",
         "-m", "storage_gorums"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={"MYPYPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
