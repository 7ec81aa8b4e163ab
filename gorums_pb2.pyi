"""Types of the top-level alias of :mod:`gorums_h2.pb.gorums_pb2` (see gorums_pb2.py)."""

from gorums_h2.pb.gorums_pb2 import *  # noqa: F403
from gorums_h2.pb.gorums_pb2 import DESCRIPTOR as DESCRIPTOR
