"""What the tests share (no test module imports another): small datasets in memory, a dataset of
one's own, projects for the engines, fabricated results, a loopback web server."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
