"""Top-level alias of :mod:`gorums_h2.pb.gorums_pb2`.

protoc writes ``import gorums_pb2`` into the ``_pb2.py`` of every .proto file
that does ``import "gorums.proto";`` (for the ``gorums.quorumcall`` etc. method
options). This module makes that import work wherever gorums-h2 is installed.
"""

from gorums_h2.pb.gorums_pb2 import *  # noqa: F403
from gorums_h2.pb.gorums_pb2 import DESCRIPTOR as DESCRIPTOR
