"""The privacy audit on a store embedded from a non-LFW identity-per-folder tree.

Identification splits come from item ids: the audit takes a person to be the folder of the
image.  A store whose files are named ``<folder>/<anything>.png`` is audited exactly as the same
vectors under LFW names, as long as renaming keeps the order of people and of their images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facebridge.cli import main
from facebridge.experiments.privacy import audit, lfw_identity
from facebridge.protocols import folder_identity
from facebridge.store import EmbeddingStore, default_store

MODELS = ("facenet-ms1m", "sface")


def _subset_stores(tmp_path: Path, n_people: int = 400) -> tuple[EmbeddingStore, EmbeddingStore]:
    """Two stores with the same vectors of the first ``n_people`` LFW people of the shipped
    store: one under LFW ids, one under ``person-<k>/photo-<j>.png``."""
    shipped = default_store()
    lfw = EmbeddingStore.create(tmp_path / "lfw")
    mine = EmbeddingStore.create(tmp_path / "mine")
    for m in MODELS:
        emb = shipped.load(m)
        people = sorted({lfw_identity(i) for i in emb.ids})[:n_people]
        rank = {p: k for k, p in enumerate(people)}
        keep = [i for i in emb.ids if lfw_identity(i) in rank]
        seen: dict[str, int] = {}
        renamed = []
        for i in keep:  # emb.ids is sorted, so images of one person come in order
            who = lfw_identity(i)
            seen[who] = seen.get(who, 0) + 1
            renamed.append(f"person-{rank[who]:04d}/photo-{seen[who]:03d}.png")
        assert sorted(renamed) == renamed
        vec = emb.take(keep)[0]
        for st, ids in ((lfw, keep), (mine, renamed)):
            with st.writer(m, dim=emb.dim, weights_sha256="0" * 64, detector="mtcnn") as w:
                w.add(ids, vec)
    return lfw, mine


@pytest.mark.realdata
def test_audit_of_a_renamed_tree_equals_the_lfw_audit(tmp_path: Path) -> None:
    lfw, mine = _subset_stores(tmp_path)
    kw = {"pairs": 200, "p_values": (50, 200), "n_draws": 2, "seed": 0}
    a = audit(lfw, *MODELS, **kw)
    b = audit(mine, *MODELS, **kw)
    assert a.attack.n_gallery == b.attack.n_gallery > 20
    assert a.rank1_at_pairs == b.rank1_at_pairs
    assert a.linkage.d_sys == b.linkage.d_sys
    assert a.rank1_at_pairs > 5 * a.attack.chance_rank1  # the map re-identifies, far above chance


@pytest.mark.realdata
def test_cli_audit_on_a_folder_store(tmp_path: Path, capsys) -> None:
    _, mine = _subset_stores(tmp_path, n_people=200)
    rc = main(["audit", "--store", str(mine.root), "--source", MODELS[0], "--target", MODELS[1],
               "--pairs", "100", "--p-values", "25,100", "--draws", "1", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["source"] == MODELS[0]
    assert "re-identified at rank 1" in out["summary"][0]


def test_folder_identity_agrees_with_the_audit_on_one_level_trees() -> None:
    ids = ["Ada/photo-1.png", "Grace_Hopper/IMG_0001.JPG", "x-y z/1.webp"]
    assert [folder_identity(i) for i in ids] == [lfw_identity(i) for i in ids]


def test_nested_trees_take_the_folder_of_the_image(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """In ``group/person/photo`` trees the person is the folder of the image, not the top folder:
    the audit's default identity and ``folder_identity`` agree."""
    st = EmbeddingStore.create(tmp_path / "st")
    people = [f"{g}/p{k}" for g in ("team-a", "team-b") for k in range(60)]
    centres = rng.standard_normal((len(people), 32))
    ids = [f"{p}/photo-{j}.jpg" for p in people for j in range(3)]
    x = np.repeat(centres, 3, axis=0) + 0.3 * rng.standard_normal((len(ids), 32))
    q, _ = np.linalg.qr(rng.standard_normal((32, 32)))
    for m, v in (("a", x), ("b", x @ q)):
        with st.writer(m, dim=32, weights_sha256="0" * 64, detector="none") as w:
            w.add(ids, v.astype(np.float32))
    kw = {"pairs": 60, "p_values": (60,), "n_draws": 1}
    good = audit(st, "a", "b", identity_fn=folder_identity, **kw)
    assert good.attack.n_gallery > 20
    assert good.rank1_at_pairs > 0.9  # b is a rotation of a: the map recovers it
    default = audit(st, "a", "b", **kw)
    assert default.rank1_at_pairs == good.rank1_at_pairs
    assert default.attack.n_gallery == good.attack.n_gallery
