"""The committed demo gallery: provenance, manifest, readable images, every split class present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from zse_gui.data.splits import canonical_class
from zse_gui.model.lite import ZSE_LITE_SEEN, ZSE_LITE_UNSEEN

GALLERY = Path(__file__).resolve().parents[2] / "resources" / "demo_gallery"


@pytest.fixture(scope="module")
def manifest() -> dict[str, object]:
    return json.loads((GALLERY / "manifest.json").read_text())


def test_provenance_names_package_version_and_licence(manifest: dict[str, object]) -> None:
    text = (GALLERY / "PROVENANCE.md").read_text()
    assert "tuxpaint-stamps-default" in text
    assert str(manifest["version"]) in text
    assert "GNU General Public License" in text and "GPL-2+" in text


def test_manifest_matches_the_files(manifest: dict[str, object]) -> None:
    files = manifest["files"]
    assert isinstance(files, list) and len(files) >= 100
    listed = {f["file"] for f in files}
    on_disk = {p.relative_to(GALLERY).as_posix() for p in GALLERY.rglob("*.jpg")}
    assert listed == on_disk
    assert all(f["source"] and f["class"] == f["file"].split("/")[0] for f in files)


def test_images_are_readable_small_rgb(manifest: dict[str, object]) -> None:
    for f in manifest["files"]:  # type: ignore[attr-defined]
        with Image.open(GALLERY / f["file"]) as im:
            im.load()
            assert im.mode == "RGB"
            assert max(im.size) <= 256


def test_every_split_class_has_photos() -> None:
    folders = {canonical_class(p.name) for p in GALLERY.iterdir() if p.is_dir() and any(p.glob("*.jpg"))}
    missing = [c for c in (*ZSE_LITE_SEEN, *ZSE_LITE_UNSEEN) if canonical_class(c) not in folders]
    assert not missing
