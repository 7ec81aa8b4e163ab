"""gorums_h2: Gorums quorum calls in pure Python, wire compatible with Go Gorums v0.11."""

from gorums_h2._version import __version__

__all__ = ["__version__"]
