#!/usr/bin/env python3
"""Build ``resources/demo_gallery/`` from the photo stamps of Debian's ``tuxpaint-stamps-default``.

Run with ``make demo-gallery`` (needs ``apt-get install tuxpaint-stamps-default``). The built gallery
is committed, so users never need the Debian package.

Which stamps count as real photographs (documented in ``docs/demo-model.md``):

1. only PNG stamps (the SVG stamps are vector drawings);
2. not under ``symbols/`` or ``cartoon/`` (top level), not in any ``cartoon`` sub-folder, not road
   signs or flags (``town/roadsigns``, ``town/flags``): these are drawings or symbols by design;
3. colour statistics of the opaque pixels (alpha > 200), colours quantised to 6 bits per channel:
   at least 200 distinct colours, the 16 most frequent colours cover under 70 % of the pixels,
   and at most 35 % of horizontally adjacent opaque pixel pairs are exactly equal. Flat-shaded
   drawings fail at least one of these; photographs pass all three;
4. a short list of stamps that pass the statistics but are drawings or 3-D renders on inspection
   (``EXCLUDED_BY_INSPECTION``), and mirrored duplicates (``*_mirror``) and byte-identical
   duplicates are skipped.

Each kept stamp is composited on white, shrunk to at most 256 px on its longer side and written as
JPEG (quality 90) under ``<class>/``, where ``<class>`` is the matching QuickDraw category (spaces as
underscores) when there is one (``QUICKDRAW_CLASS``), else a name from the stamp's file name.
``manifest.json`` lists every file with its source path and class, and ``PROVENANCE.md`` carries
the package version and licence notice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

STAMPS = Path("/usr/share/tuxpaint/stamps")
PACKAGE = "tuxpaint-stamps-default"
MAX_SIDE = 256
JPEG_QUALITY = 90

# Rule 3 thresholds (see the module docstring).
MIN_COLOURS = 200
MAX_TOP16 = 0.70
MAX_FLAT = 0.35

# Stamps that pass the colour statistics but are drawings / renders (checked by eye on a contact sheet).
EXCLUDED_BY_INSPECTION = frozenset(
    {
        "button", "rubberduck", "Santa", "santahat", "bluebird", "bunny", "bunny-egg", "butterfly",
        "chick", "chick-hatched", "chick-in-egg", "grave-c", "grave-e", "party-hat", "party-horn-in",
        "sedan", "sportscar2", "truck", "sedan_police", "fireworks2", "xmas_tp_bulb", "highlighter",
        "menorah", "jackolantern_mean", "rugby_goal_posts", "sun", "0_sun",
    }
)  # fmt: skip

# Stamp file stem -> QuickDraw category (exact QuickDraw spelling). Only clear matches.
QUICKDRAW_CLASS: dict[str, str] = {
    # animals
    "frog": "frog", "frog-1": "frog",
    "drake": "duck", "duck": "duck",
    "little-penguin": "penguin", "magellanic_penguin": "penguin", "penguin": "penguin",
    "owl": "owl", "pink_flamingo": "flamingo",
    "adelaide-rosella": "parrot", "rainbow-lorikeet": "parrot",
    "blackbird": "bird", "crow": "bird", "cuckoo": "bird", "lark": "bird", "magpie": "bird",
    "pigeon": "bird", "seagull": "bird", "silver-gull": "bird",
    "bluegroper": "fish", "butterflyfish": "fish", "clownfish": "fish", "coraltrout": "fish",
    "dolphinfish": "fish", "lionfish": "fish", "moonwrasse": "fish", "stripedfish": "fish",
    "lobster": "lobster",
    "chimp": "monkey", "tamarin_emperor": "monkey", "gorilla": "monkey",
    "dolphin": "dolphin", "orca": "whale", "whale": "whale",
    "bear": "bear", "european-bear": "bear", "edward_bear": "teddy-bear",
    "bull": "cow", "cow": "cow", "cow_white": "cow",
    "sheep": "sheep", "sheep_lamb": "sheep", "ram": "sheep",
    "camel": "camel", "dromedary": "camel",
    "lion": "lion", "lion-2": "lion", "tiger": "tiger", "tiger_sumatran": "tiger",
    "dingo": "dog", "dog": "dog", "elephant": "elephant", "horse": "horse", "zebra": "zebra",
    "giraffe": "giraffe", "pig": "pig", "pig_golden": "pig", "pig_golden2": "pig",
    "rabbit": "rabbit", "rabbit-2": "rabbit", "rabbit_little": "rabbit",
    "rhino_black": "rhinoceros", "mouse": "mouse", "squirrel": "squirrel", "kangaroo": "kangaroo",
    # food
    "apple_fuji": "apple", "apple_granny_smith": "apple", "apple_green": "apple", "apple_red": "apple",
    "apple_sierra_beauty": "apple", "banana": "banana", "grapes": "grapes", "pear": "pear",
    "pineapple": "pineapple", "strawberry": "strawberry", "Strawberry2": "strawberry",
    "broccoli": "broccoli", "carrot": "carrot", "mushroom": "mushroom", "cep": "mushroom",
    "cep-1": "mushroom", "cep-2": "mushroom", "onion": "onion", "potato": "potato",
    # things
    "binoculars": "binoculars", "camera_35mm": "camera", "trumpet": "trumpet",
    "drumkit": "drums", "drum_tomtom_floor": "drums", "cello": "cello", "violin": "violin",
    "guitar2": "guitar", "guitar_classical": "guitar", "guitar_electric": "guitar",
    "guitar_electric_bass": "guitar",
    "Lightbulb": "light bulb", "pen_dryerase": "marker", "scissors_small_closed": "scissors",
    "scissors_small_open": "scissors", "teapot": "teapot", "key": "key", "toilet": "toilet",
    "hammer": "hammer", "mallet_metal": "hammer", "paintbrush_large": "paintbrush", "plyers": "pliers",
    "saw": "saw", "spade": "shovel", "bandage_adhesive": "bandage", "stethoscope": "stethoscope",
    "syringe": "syringe", "candle": "candle",
    # plants
    "adeenia": "flower", "anemone_red": "flower", "anthoorium": "flower", "appooppanthady": "flower",
    "bolsom": "flower", "chemparathi": "flower", "daffodil": "flower", "flower1": "flower",
    "flower3": "flower", "flower4": "flower", "flower6": "flower", "flower7": "flower",
    "flower9": "flower", "flower10": "flower", "iris": "flower", "marigold": "flower",
    "pigface": "flower", "red-gazania": "flower", "rose": "flower", "whitestar-petunia": "flower",
    "yellow-flower": "flower",
    "holm_oak": "tree", "tree336": "tree", "liberia-palm": "palm tree",
    # sky, sport, town, vehicles
    "moon_3qt": "moon", "moon_full": "moon",
    "basketball": "basketball", "soccer": "soccer ball", "tennis_racket": "tennis racquet",
    "usps_mailbox": "mailbox", "uk_post_box": "mailbox",
    "beetle": "car", "indycar": "car", "firetruck": "firetruck", "balloon360": "hot air balloon",
    "747": "airplane", "f22_raptor": "airplane", "green_korean_bus": "bus", "garbagetruck": "truck",
    "wheel_tractor": "wheel", "chineseJunk": "sailboat", "ww2_german_gun": "cannon",
    "paratrooper": "parachute",
}  # fmt: skip

# Stamps without a QuickDraw category that belong together in one gallery class.
GROUPS: dict[str, str] = {
    "gnu-baby": "gnu", "gnu-baby-stand": "gnu", "gnu-sitting": "gnu", "gnu-stand": "gnu",
    "heron_greatblue": "heron", "heron_greatblue_flying": "heron",
    "guineafowl": "guineafowl", "helmeted_guineafowl": "guineafowl",
    "Candy_cane_photo_1": "candy_cane", "Candy_cane_photo_2": "candy_cane",
    "wrapped_chocolate_easter_egg": "chocolate_egg", "wrapped_chocolate_easter_egg_2": "chocolate_egg",
    "fireman200b": "firefighter", "fireman240a": "firefighter",
    "walnut": "walnut", "walnut_shelled": "walnut", "garlic": "garlic", "garlics": "garlic",
    "measuring_tape": "measuring_tape", "dumper": "dumper", "bradley": "armoured_vehicle",
    "infantry-stryker": "armoured_vehicle", "Christmas_Tree_photo": "christmas_tree",
    "lettuce": "lettuce", "redlettuce": "lettuce", "lettuce_bolted": "lettuce",
}  # fmt: skip


def colour_stats(rgba: np.ndarray) -> tuple[int, float, float]:
    """(distinct 6-bit colours, share of the 16 most frequent colours, share of equal neighbours)."""
    opaque = rgba[..., 3] > 200
    px = rgba[opaque][:, :3]
    if len(px) == 0:
        return 0, 1.0, 1.0
    q = (px // 4).astype(np.int32)
    _, counts = np.unique(q[:, 0] * 4096 + q[:, 1] * 64 + q[:, 2], return_counts=True)
    top16 = float(np.sort(counts)[::-1][:16].sum() / len(px))
    rgb = rgba[..., :3].astype(np.int32)
    same = np.abs(np.diff(rgb, axis=1)).sum(-1) == 0
    pairs = opaque[:, 1:] & opaque[:, :-1]
    flat = float(same[pairs].mean()) if pairs.any() else 1.0
    return len(counts), top16, flat


def is_candidate_path(rel: Path) -> bool:
    """Rule 2: folders that hold drawings or symbols by design."""
    parts = rel.parts
    if parts[0] in ("symbols", "cartoon") or "cartoon" in parts[:-1]:
        return False
    return not (len(parts) > 2 and parts[0] == "town" and parts[1] in ("roadsigns", "flags"))


def class_of(stem: str) -> tuple[str, str | None]:
    """(gallery folder name, QuickDraw category or None) of a stamp."""
    qd = QUICKDRAW_CLASS.get(stem)
    if qd is not None:
        return qd.replace(" ", "_"), qd
    if stem in GROUPS:
        return GROUPS[stem], None
    if stem.startswith("grave-"):
        return "gravestone", None
    name = re.sub(r"^\d+_", "", stem)  # planets are numbered by distance from the sun
    return re.sub(r"[-_]?\d+[a-z]?$", "", name).lower().replace("-", "_") or stem.lower(), None


def package_version() -> str:
    """Installed version of the Debian package (dpkg-query)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def select(stamps: Path) -> tuple[list[tuple[Path, str, str | None]], list[tuple[str, str]]]:
    """Apply rules 1-4. Returns kept (path, folder, quickdraw) and rejected (relative path, reason)."""
    kept: list[tuple[Path, str, str | None]] = []
    rejected: list[tuple[str, str]] = []
    seen_bytes: set[str] = set()
    for p in sorted(stamps.rglob("*.png")):
        rel = p.relative_to(stamps)
        if not is_candidate_path(rel):
            rejected.append((str(rel), "drawing/symbol folder"))
            continue
        if p.stem.endswith("_mirror"):
            rejected.append((str(rel), "mirrored duplicate"))
            continue
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest in seen_bytes:
            rejected.append((str(rel), "identical duplicate"))
            continue
        seen_bytes.add(digest)
        with Image.open(p) as im:
            rgba = np.asarray(im.convert("RGBA"))
        n, top16, flat = colour_stats(rgba)
        if n < MIN_COLOURS or top16 >= MAX_TOP16 or flat > MAX_FLAT:
            rejected.append(
                (str(rel), f"colour statistics ({n} colours, top16 {top16:.2f}, flat {flat:.2f})")
            )
            continue
        if p.stem in EXCLUDED_BY_INSPECTION:
            rejected.append((str(rel), "drawing on inspection"))
            continue
        folder, qd = class_of(p.stem)
        kept.append((p, folder, qd))
    return kept, rejected


def write_image(src: Path, dst: Path) -> tuple[int, int]:
    """Composite on white, shrink to MAX_SIDE, save as JPEG; returns the written size."""
    with Image.open(src) as im:
        rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    rgb.save(tmp, "JPEG", quality=JPEG_QUALITY, optimize=True)
    tmp.replace(dst)  # atomic: a reader never sees a half-written file
    return rgb.size


PROVENANCE = """# Demo gallery: provenance and licence

Real photographs of objects, cut out on transparent backgrounds, taken from the stamps of the Debian
package **`{package}` version {version}** (source package `tuxpaint-stamps`, the stamp collection of
Tux Paint, https://tuxpaint.org/), installed files under `/usr/share/tuxpaint/stamps/`.

Copyright 2002-2022 Bill Kendrick <bill@newbreedsoftware.com> and the Tux Paint contributors
(per the package's `debian/copyright`). Licensed under the **GNU General Public License, version 2 or
(at your option) any later version** (GPL-2+). You should have received a copy of the GNU General
Public License along with this program; if not, see <https://www.gnu.org/licenses/>. On Debian
systems the complete text is in `/usr/share/common-licenses/GPL-2`.

Changes made here (by `scripts/build_demo_gallery.py`, `make demo-gallery`): only stamps judged to be
real photographs were kept (rules in that script and in `docs/demo-model.md`); each was composited on
a white background, shrunk to at most {max_side} px on its longer side and re-encoded as JPEG
(quality {quality}); files were renamed into one folder per class. The preferred form for
modification is the original PNG stamp in the source package `tuxpaint-stamps`
(https://sourceforge.net/projects/tuxpaint/files/tuxpaint-stamps/), from which this gallery can be
rebuilt with the script. `manifest.json` maps every file here to its original stamp.

{count} images in {classes} classes; {qd_classes} classes carry a Quick, Draw! category name
(the others are named after the stamp). These images are used as the photo side for training and
evaluating the bundled `zse_lite` model (see `models/zse_lite.md`).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=Path, default=STAMPS, help="installed stamp folder")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "resources" / "demo_gallery"
    )
    args = ap.parse_args(argv)
    if not args.stamps.is_dir():
        print(f"{args.stamps} not found: run `sudo apt-get install {PACKAGE}` first", file=sys.stderr)
        return 2
    version = package_version()
    kept, rejected = select(args.stamps)
    out: Path = args.out
    manifest = []
    written: set[Path] = set()
    for src, folder, qd in kept:
        dst = out / folder / f"{src.stem}.jpg"
        if dst in written:  # the same stamp name in two stamp folders (e.g. daffodil)
            dst = out / folder / f"{src.stem}_{src.parent.name}.jpg"
        written.add(dst)
        size = write_image(src, dst)
        manifest.append(
            {
                "file": f"{folder}/{dst.name}",
                "class": folder,
                "quickdraw": qd,
                "source": str(src.relative_to(args.stamps)),
                "size": list(size),
            }
        )
    for stale in sorted(set(out.rglob("*.jpg")) - written):  # left over from an earlier build
        stale.unlink()
    for d in sorted(out.iterdir()):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    classes = sorted({m["class"] for m in manifest})
    qd_classes = sorted({m["quickdraw"] for m in manifest if m["quickdraw"]})
    info = {
        "package": PACKAGE,
        "version": version,
        "licence": "GPL-2+",
        "rules": {"min_colours": MIN_COLOURS, "max_top16": MAX_TOP16, "max_flat": MAX_FLAT},
        "excluded_by_inspection": sorted(EXCLUDED_BY_INSPECTION),
        "files": manifest,
        "rejected": [{"source": s, "reason": r} for s, r in rejected],
    }
    (out / "manifest.json").write_text(json.dumps(info, indent=1) + "\n")
    (out / "PROVENANCE.md").write_text(
        PROVENANCE.format(
            package=PACKAGE,
            version=version,
            max_side=MAX_SIDE,
            quality=JPEG_QUALITY,
            count=len(manifest),
            classes=len(classes),
            qd_classes=len(qd_classes),
        )
    )
    print(f"{len(manifest)} photos in {len(classes)} classes ({len(qd_classes)} QuickDraw classes) -> {out}")
    print(f"rejected {len(rejected)} stamps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
