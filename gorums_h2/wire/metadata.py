"""gRPC custom metadata: a small ordered multi-map of header keys to values.

Keys are lower-case ASCII (``0-9 a-z - _ .``). Values of keys ending in
``-bin`` are ``bytes`` (base64 on the wire); all other values are ``str`` of
printable ASCII. Keys that gRPC or HTTP/2 reserve (``:...``, ``grpc-...``,
``content-type``, ``te``, ``user-agent``, ...) cannot be sent as custom metadata:
:meth:`Metadata.validate_for_send` raises :class:`ValueError` naming the key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

__all__ = ["Metadata", "MetadataLike", "MetadataValue"]

MetadataValue: TypeAlias = str | bytes
MetadataLike: TypeAlias = (
    "Metadata | Mapping[str, MetadataValue] | Iterable[tuple[str, MetadataValue]]"
)

_KEY_RE = re.compile(r"^[0-9a-z_.\-]+$")
_VALUE_RE = re.compile(r"^[\x20-\x7e]*$")

# Headers that gRPC or HTTP/2 own. Receiving them is fine (some are exposed
# read-only, as grpc-go does); sending them as custom metadata is refused.
RESERVED_KEYS = frozenset(
    {
        "content-type",
        "te",
        "user-agent",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


def _is_reserved(key: str) -> bool:
    return key.startswith((":", "grpc-")) or key in RESERVED_KEYS


class Metadata(Mapping[str, MetadataValue]):
    """Ordered multi-valued metadata.

    ``md[key]`` and ``md.get(key)`` give the *last* value of ``key`` (like
    grpc's "last wins" for single-valued use); ``md.get_all(key)`` all values
    in order; iteration yields each distinct key once; ``md.items_all()``
    every ``(key, value)`` pair.
    """

    __slots__ = ("_pairs",)

    def __init__(self, data: MetadataLike | None = None, /, **kwargs: MetadataValue) -> None:
        self._pairs: list[tuple[str, MetadataValue]] = []
        if data is not None:
            pairs: Iterable[tuple[str, MetadataValue]]
            if isinstance(data, Metadata):
                pairs = data._pairs
            elif isinstance(data, Mapping):
                pairs = data.items()
            else:
                pairs = data
            for key, value in pairs:
                self.add(key, value)
        for key, value in kwargs.items():
            self.add(key.replace("_", "-"), value)

    # --- building ---

    def add(self, key: str, value: MetadataValue) -> None:
        """Append one value for ``key`` (lower-cased; checked for shape)."""
        key = key.lower()
        if not _KEY_RE.match(key) and not key.startswith(":"):
            raise ValueError(f"invalid metadata key {key!r}: use 0-9 a-z - _ .")
        if key.endswith("-bin"):
            if isinstance(value, str):
                value = value.encode()
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"metadata key {key!r} needs a bytes value")
            value = bytes(value)
        else:
            if not isinstance(value, str):
                raise TypeError(f"metadata key {key!r} needs a str value (or a key ending in -bin)")
            if not _VALUE_RE.match(value):
                raise ValueError(f"metadata value of {key!r} must be printable ASCII")
        self._pairs.append((key, value))

    def extend(self, other: MetadataLike) -> None:
        """Add every pair of ``other``."""
        for key, value in Metadata(other)._pairs:
            self._pairs.append((key, value))

    def copy(self) -> Metadata:
        md = Metadata()
        md._pairs = list(self._pairs)
        return md

    # --- reading ---

    def __getitem__(self, key: str) -> MetadataValue:
        key = key.lower()
        for k, v in reversed(self._pairs):
            if k == key:
                return v
        raise KeyError(key)

    def get_all(self, key: str) -> list[MetadataValue]:
        key = key.lower()
        return [v for k, v in self._pairs if k == key]

    def items_all(self) -> list[tuple[str, MetadataValue]]:
        return list(self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for k, _ in self._pairs))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(k == key.lower() for k, _ in self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metadata):
            return self._pairs == other._pairs
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Metadata({self._pairs!r})"

    def __bool__(self) -> bool:
        return bool(self._pairs)

    # --- wire conversion ---

    def validate_for_send(self) -> None:
        """Raise ValueError if any key is reserved by gRPC or HTTP/2."""
        for key, _ in self._pairs:
            if _is_reserved(key):
                raise ValueError(f"metadata key {key!r} is reserved and cannot be sent")

    def to_headers(self) -> list[tuple[bytes, bytes]]:
        """Header pairs for HTTP/2 (``-bin`` values base64 without padding)."""
        out = []
        for key, value in self._pairs:
            if isinstance(value, bytes):
                out.append((key.encode(), base64.b64encode(value).rstrip(b"=")))
            else:
                out.append((key.encode(), value.encode()))
        return out

    @classmethod
    def from_headers(
        cls, headers: Iterable[tuple[bytes, bytes]], skip: frozenset[bytes] = frozenset()
    ) -> Metadata:
        """Metadata from received header pairs, leaving out the keys in ``skip``.

        ``-bin`` values are base64-decoded (padded or not; comma-separated
        values, as some peers join them, are split). Undecodable values are
        dropped rather than failing the call.
        """
        md = cls()
        pairs = md._pairs
        for raw_key, raw_value in headers:
            if raw_key in skip:
                continue
            key = raw_key.decode("ascii", "replace")
            if key.endswith("-bin"):
                for part in raw_value.split(b","):
                    part = part.strip()
                    padded = part + b"=" * (-len(part) % 4)
                    try:
                        pairs.append((key, base64.b64decode(padded, validate=True)))
                    except (binascii.Error, ValueError):
                        continue
            else:
                pairs.append((key, raw_value.decode("latin-1")))
        return md
