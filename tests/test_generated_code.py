"""The committed generated modules are what proto/generate.py makes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_regenerating_changes_nothing() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_the_include_copies_match_the_sources() -> None:
    include = ROOT / "gorums_h2" / "pb" / "include"
    for name in ("gorums.proto", "ordering.proto", "google/rpc/status.proto"):
        assert (include / name).read_bytes() == (ROOT / "proto" / name).read_bytes()


def test_status_proto_is_byte_identical_to_googleapis() -> None:
    """So gorums_h2 and googleapis-common-protos can share one descriptor pool."""
    from gorums_h2.pb import status_pb2

    expected = bytes.fromhex(
        "0a17676f6f676c652f7270632f7374617475732e70726f746f120a676f6f676c652e7270631a19"
        "676f6f676c652f70726f746f6275662f616e792e70726f746f224e0a06537461747573120c0a04"
        "636f6465180120012805120f0a076d65737361676518022001280912250a0764657461696c7318"
        "032003280b32142e676f6f676c652e70726f746f6275662e416e79425e0a0e636f6d2e676f6f67"
        "6c652e727063420b53746174757350726f746f50015a37676f6f676c652e676f6c616e672e6f72"
        "672f67656e70726f746f2f676f6f676c65617069732f7270632f7374617475733b737461747573"
        "a20203525043620670726f746f33")
    assert status_pb2.DESCRIPTOR.serialized_pb == expected
