"""The optional dependencies of facebridge, in one table, and the import that names the extra.

Heavy runtimes and libraries are optional extras of ``pyproject.toml`` and are imported only when
used; :func:`require` imports one and, when it is missing, raises
:class:`~facebridge.errors.MissingDependencyError` naming the extra that installs it.
``tests/test_models.py`` checks the table against ``pyproject.toml``.  This module imports
nothing from facebridge but :mod:`facebridge.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from facebridge.errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["OPTIONAL_DEPENDENCIES", "install_hint", "require", "torch_device"]

#: Optional modules facebridge imports lazily: top-level module -> (extra, distribution).
#: ``pip install 'facebridge[EXTRA]'`` installs DISTRIBUTION.
OPTIONAL_DEPENDENCIES: dict[str, tuple[str, str]] = {
    "tensorflow": ("tf", "tensorflow-cpu"),
    "h5py": ("tf", "h5py"),
    "ai_edge_litert": ("tflite", "ai-edge-litert"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "onnx": ("onnx", "onnx"),
    "cv2": ("detect", "opencv-python-headless"),
    "torch": ("detect", "torch"),
    "dlib": ("dlib", "dlib-bin"),
    "ray": ("ray", "ray"),
    "pyarrow": ("arrow", "pyarrow"),
    "faiss": ("faiss", "faiss-cpu"),
    "ot": ("ot", "pot"),
}


def install_hint(module: str) -> str:
    """The ``pip install`` command that provides ``module``.

    Parameters
    ----------
    module : str
        A module name; only its top-level package is looked up in :data:`OPTIONAL_DEPENDENCIES`.

    Returns
    -------
    str
        ``pip install 'facebridge[EXTRA]'`` (with the distribution it brings), or
        ``pip install 'facebridge[extract]'`` for a module the table does not name.

    Examples
    --------
    >>> install_hint("h5py")
    "pip install 'facebridge[tf]' (h5py)"
    """
    top = module.split(".")[0]
    if top in OPTIONAL_DEPENDENCIES:
        extra, dist = OPTIONAL_DEPENDENCIES[top]
        return f"pip install 'facebridge[{extra}]' ({dist})"
    return "pip install 'facebridge[extract]'"


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise an error that names the extra to install.

    Parameters
    ----------
    module : str
        Module to import (``"onnxruntime"``, ``"ai_edge_litert.interpreter"``).
    extra : str, optional
        The extra to name; default: the one :data:`OPTIONAL_DEPENDENCIES` gives.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        ``module`` is not importable.

    Examples
    --------
    >>> require("numpy").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'facebridge[{extra}]'" if extra else install_hint(module)
        raise MissingDependencyError(
            f"{module} is needed here but not importable ({exc}); install it with "
            f"`{hint}` (or 'facebridge[extract]' for all models)"
        ) from None


def torch_device(device: str, what: str) -> Any:
    """``device`` as a ``torch.device`` (torch imported here); a CUDA device must exist.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    what : str
        What asks for the device (named in the error).

    Returns
    -------
    torch.device

    Raises
    ------
    InvalidInputError
        Not a CPU or CUDA device, or a CUDA device that torch does not see.
    MissingDependencyError
        torch is not installed.

    Examples
    --------
    >>> torch_device("cpu", "the analysis").type  # doctest: +SKIP
    'cpu'
    """
    torch = require("torch")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            raise InvalidInputError(
                f"device {device!r} asked for {what} but torch sees {n} CUDA GPU(s) "
                f"(torch {torch.__version__}); use device='cpu'"
            )
    return dev
