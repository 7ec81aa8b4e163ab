"""protoc plugin that generates gorums_h2 client functions and server interfaces.

For every .proto file with services, protoc's ``--gorums_py_out=DIR`` writes
``<name>_gorums.py`` beside ``<name>_pb2.py``: one typed client function per
method (by its ``gorums.*`` call type option), a ``typing.Protocol`` per
service for the server, ``register_<service>_server``, and Async/Correctable
type aliases. Modules: ``naming`` (names), ``model`` (checks), ``render``
(code), ``generator`` (request -> response), ``main``.

Installed as the package ``gorums_h2.protoc_plugin`` (the repository keeps
the folder ``protoc_plugin/``), so the modules import each other
relatively: they work under either name.
"""

from .generator import generate

__all__ = ["generate"]
