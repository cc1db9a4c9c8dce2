"""Draw one synthetic reference tile at every distortion type and level, as a PNG grid.

Rows: distortion types; columns: the reference, then levels 1..5; each cell is captioned with
its score. Reads data/raw/synthetic/ when it exists, else generates the one photo it needs into
a temporary folder.

    python docs/synthetic_grid.py [--photo astronaut] [--tile 0] [--out docs/synthetic_grid.png]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

from pmtiqa.data.datasets import synthetic
from pmtiqa.data.datasets.distortions import DISTORTIONS

SCALE, CAPTION, MARGIN = 2, 16, 4


def draw_grid(raw: Path, photo: str, tile: int, out: Path) -> None:
    table = pd.read_csv(raw / synthetic.LABELS)
    reference = f"reference/{photo}_{tile}.png"
    family = table[table["reference"] == reference]
    kinds = list(DISTORTIONS)
    side = synthetic.TILE * SCALE
    cell_w, cell_h = side + MARGIN, side + CAPTION + MARGIN
    grid = Image.new("RGB", (80 + 6 * cell_w, CAPTION + len(kinds) * cell_h), "white")
    pen = ImageDraw.Draw(grid)
    for col, title in enumerate(["reference"] + [f"level {k}" for k in range(1, 6)]):
        pen.text((80 + col * cell_w, 2), title, fill="black")
    for row, kind in enumerate(kinds):
        top = CAPTION + row * cell_h
        pen.text((4, top + side // 2), kind, fill="black")
        cells = [family[family["distortion"] == "none"].iloc[0]]
        cells += [r for _, r in family[family["distortion"] == kind].sort_values("level").iterrows()]
        for col, cell in enumerate(cells):
            with Image.open(raw / cell["image"]) as im:
                grid.paste(im.resize((side, side), Image.Resampling.NEAREST), (80 + col * cell_w, top))
            pen.text((80 + col * cell_w, top + side + 1), f"score {cell['mos']:.1f}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    print(f"wrote {out} ({photo} tile {tile})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="astronaut", choices=[p[0] for p in synthetic.PHOTOS])
    parser.add_argument("--tile", type=int, default=0)
    parser.add_argument("--raw", type=Path, default=Path("data/raw/synthetic"))
    parser.add_argument("--out", type=Path, default=Path("docs/synthetic_grid.png"))
    args = parser.parse_args()
    if (args.raw / synthetic.LABELS).is_file():
        draw_grid(args.raw, args.photo, args.tile, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        synthetic.generate(Path(tmp), photos=[args.photo])
        draw_grid(Path(tmp), args.photo, args.tile, args.out)


if __name__ == "__main__":
    main()
