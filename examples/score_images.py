"""The README's Python example on a trained model: pmtiqa.load's scores of some images, the same images
through `pmtiqa predict` (equal to the last digit, or this exits 1), and a gradient through as_loss().

    python examples/score_images.py runs/train/synthetic/ms_pmt/split0/model.pt \
        data/raw/synthetic/reference/astronaut_0.png ...
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import torch
from PIL import Image

import pmtiqa


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a model.pt written by `pmtiqa train`")
    parser.add_argument("images", nargs="+", help="image files of the model's training size")
    args = parser.parse_args()
    scorer = pmtiqa.load(args.checkpoint)
    print("scorer(images[0])      =", scorer(args.images[0]))
    print("scorer.unit(images)    =", scorer.unit(args.images))
    batch = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
                         for p in args.images]).requires_grad_(True)
    quality = scorer.as_loss()(batch)
    (1 - quality).sum().backward()
    print("as_loss()(batch)       =", quality.detach())
    print(f"gradient at the input  : sum of |grad| {float(batch.grad.abs().sum()):.4g}, "
          f"finite {bool(torch.isfinite(batch.grad).all())}")
    cli = subprocess.run([sys.executable, "-m", "pmtiqa", "predict", "--checkpoint", args.checkpoint, *args.images],
                         capture_output=True, text=True, check=True).stdout
    table = pd.read_csv(io.StringIO(cli))
    print(table.to_string(index=False))
    same = (np.array_equal(table["prediction"].to_numpy(), scorer(args.images).numpy())
            and np.array_equal(table["score"].to_numpy(), scorer.unit(args.images).numpy()))
    print("pmtiqa predict and pmtiqa.load agree to the last digit:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
