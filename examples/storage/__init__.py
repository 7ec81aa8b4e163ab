"""The storage example: the service of the Go Gorums v0.11 interop captures.

Installed as ``gorums_h2.examples.storage``: ``storage_pb2``/``storage_gorums``
are generated from ``storage.proto`` by ``python proto/generate.py``;
``server`` implements the service; ``client`` runs the capture's call sequence.
"""
