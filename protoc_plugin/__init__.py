"""protoc plugin that generates gorums_h2 client functions and server interfaces.

For every .proto file with services, protoc's ``--gorums_py_out=DIR`` writes
``<name>_gorums.py`` beside ``<name>_pb2.py``: one typed client function per
method (by its ``gorums.*`` call type option), a ``typing.Protocol`` per
service for the server, ``register_<service>_server``, and Async/Correctable
type aliases. Modules: :mod:`~protoc_plugin.naming` (names),
:mod:`~protoc_plugin.model` (checks), :mod:`~protoc_plugin.render` (code),
:mod:`~protoc_plugin.generator` (request -> response), :mod:`~protoc_plugin.main`.
"""

from protoc_plugin.generator import generate

__all__ = ["generate"]
