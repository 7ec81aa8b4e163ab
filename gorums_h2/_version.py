"""The gorums_h2 version, and the range of generated code it accepts."""

__version__ = "0.1.0"

# Generated stubs record the generator version they were made with; the
# runtime accepts stubs from MIN_GEN_VERSION up to GEN_VERSION (Go's
# MinVersion/GenVersion/MaxVersion, see gorums_h2.enforce_version).
GEN_VERSION = 1
MIN_GEN_VERSION = 1


class VersionError(ImportError):
    """Generated code and runtime versions do not fit together."""


def enforce_version(gen_version: int, module: str) -> None:
    """Fail the import of generated code made for an unsupported runtime.

    Called at import time by every ``*_gorums.py`` (Go's ``EnforceVersion``).
    Raises :class:`VersionError` (an ImportError) saying what to upgrade or
    regenerate.
    """
    if gen_version < MIN_GEN_VERSION:
        raise VersionError(
            f"{module} was generated for gorums-h2 runtime API {gen_version}, older than the "
            f"oldest this runtime ({__version__}) supports ({MIN_GEN_VERSION}): regenerate it "
            "with `gorums-h2 protoc --python_out=. --gorums_py_out=. <files>`"
        )
    if gen_version > GEN_VERSION:
        raise VersionError(
            f"{module} was generated for gorums-h2 runtime API {gen_version}, newer than this "
            f"runtime ({__version__}, API {GEN_VERSION}) supports: upgrade with "
            "`pip install --upgrade gorums-h2`"
        )
