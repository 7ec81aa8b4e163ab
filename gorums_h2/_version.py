"""The gorums_h2 version, and the range of generated code it accepts."""

__version__ = "0.1.0"

# Generated stubs record the generator version they were made with; the
# runtime accepts stubs from MIN_GEN_VERSION up to GEN_VERSION (Go's
# MinVersion/GenVersion/MaxVersion, see gorums_h2.enforce_version).
GEN_VERSION = 1
MIN_GEN_VERSION = 1
