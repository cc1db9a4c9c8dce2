"""The README's Python example (examples/score_images.py) runs on a trained model: pmtiqa.load and
`pmtiqa predict` agree to the last digit, and a gradient flows through as_loss()."""
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.builders import ROOT


def test_the_api_and_the_command_line_score_alike(model_pt, tmp_path):
    rng = np.random.default_rng(0)
    images = []
    for i in range(3):
        images.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(images[-1])
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "score_images.py"), str(model_pt), *images],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "pmtiqa predict and pmtiqa.load agree to the last digit: True" in out
    assert re.search(r"sum of \|grad\| [\d.e+-]+, finite True", out), out
