"""Verification pair protocols (LFW, YouTube Faces, CSV). See docs/ARCHITECTURE.md."""

from __future__ import annotations

from facebridge.protocols._core import (
    LFW_PAIRS_MD5,
    PROTOCOL_KINDS,
    Pair,
    PairProtocol,
    default_lfw_pairs,
    lfw_item_id,
    load_csv_pairs,
    load_lfw_dev_pairs,
    load_lfw_pairs,
    load_protocol,
    load_ytf_splits,
    ytf_video_frames,
)
from facebridge.protocols.make import (
    FewerPairsWarning,
    folder_identity,
    make_pairs,
    write_csv_pairs,
)

__all__ = [
    "LFW_PAIRS_MD5",
    "PROTOCOL_KINDS",
    "FewerPairsWarning",
    "Pair",
    "PairProtocol",
    "default_lfw_pairs",
    "folder_identity",
    "lfw_item_id",
    "load_csv_pairs",
    "load_lfw_dev_pairs",
    "load_lfw_pairs",
    "load_protocol",
    "load_ytf_splits",
    "make_pairs",
    "write_csv_pairs",
    "ytf_video_frames",
]
