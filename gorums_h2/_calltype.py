"""The gorums call types: one table for the runtime (:mod:`gorums_h2.codec`)
and the code generator (:mod:`gorums_h2.protoc_plugin`), as grpclib's
plugin reuses the runtime's ``Cardinality``. Imports nothing, so the
plugin pays no runtime import for it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

__all__ = ["OPTIONS", "CallType", "CallTypeError", "classify"]

OPTIONS = ("rpc", "unicast", "multicast", "quorumcall")
"""The ``gorums.*`` method options that select a call type, in gorums.proto's order."""


class CallType(enum.Enum):
    """How a method is called, from its ``gorums.*`` option (the value names it)."""

    RPC = "rpc"  # no option (or gorums.rpc): ordered RPC on one node
    UNICAST = "unicast"
    MULTICAST = "multicast"
    QUORUMCALL = "quorumcall"
    QUORUMCALL_STREAM = "quorumcall_stream"  # quorumcall with a stream response

    @property
    def one_way(self) -> bool:
        """True for call types whose server sends no reply."""
        return self in (CallType.UNICAST, CallType.MULTICAST)

    @property
    def on_configuration(self) -> bool:
        """True if the call goes to a configuration (ConfigContext), not one node."""
        return self in (CallType.MULTICAST, CallType.QUORUMCALL, CallType.QUORUMCALL_STREAM)

    @property
    def quorum(self) -> bool:
        """True for quorum calls (their replies are aggregated)."""
        return self in (CallType.QUORUMCALL, CallType.QUORUMCALL_STREAM)


class CallTypeError(ValueError):
    """A method's options do not form a valid gorums call type (the text says why)."""


def classify(chosen: Collection[str], *, client_streaming: bool,
             server_streaming: bool) -> CallType:
    """The call type of a method whose set options are ``chosen`` (names from
    :data:`OPTIONS`; an option set to ``false`` counts as absent).

    Raises :class:`CallTypeError` for two call-type options, client
    streaming, or server streaming without ``gorums.quorumcall``.
    """
    names = [name for name in OPTIONS if name in chosen]
    if len(names) > 1:
        raise CallTypeError("more than one call type option ("
                            + ", ".join(f"gorums.{n}" for n in names) + "); choose one")
    if client_streaming:
        raise CallTypeError(
            "client streaming ('rpc M(stream Req)') is not supported by gorums; "
            "remove 'stream' from the request")
    kind = names[0] if names else "rpc"
    if server_streaming:
        if kind != "quorumcall":
            has = f" (it has gorums.{kind})" if names else ""
            raise CallTypeError(
                "server streaming ('returns (stream Resp)') requires the gorums.quorumcall "
                "option" + has)
        return CallType.QUORUMCALL_STREAM
    return CallType(kind)
