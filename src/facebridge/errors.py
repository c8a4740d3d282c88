"""Errors raised by facebridge.

Every error a user can cause derives from :class:`FacebridgeError`; the CLI catches it and prints
its message as one line with a non-zero exit.  Messages say what was expected, what was given and
how to fix it.  Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations


class FacebridgeError(Exception):
    """Base class of every error facebridge raises on bad input or missing resources."""


class ProtocolError(FacebridgeError, ValueError):
    """A pairs / splits / CSV protocol file is malformed (the message names file and line)."""


class StoreError(FacebridgeError):
    """An embedding store is missing, corrupt, or would be mixed (other model, other dimension)."""


class DimensionError(FacebridgeError, ValueError):
    """Arrays whose shapes do not fit (wrong embedding dimension, mismatched rows)."""


class InvalidInputError(FacebridgeError, ValueError):
    """Empty, NaN or infinite input, or an option out of its range."""


class UnknownModelError(FacebridgeError, KeyError):
    """A model key that is not in the registry (the message lists close matches)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(FacebridgeError):
    """Weight files missing, truncated or altered (sha256 mismatch), or an unsafe archive."""


class MissingDependencyError(FacebridgeError, ImportError):
    """An optional runtime (torch, tensorflow, dlib, onnxruntime, opencv) is not installed;
    the message names the extra to install."""


class ImageError(FacebridgeError):
    """An image that cannot be read (corrupt, zero bytes, unsupported)."""


class NoFaceError(FacebridgeError):
    """No face was detected in an image."""
