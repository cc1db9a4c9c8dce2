"""The SHA-256 of a file, read in blocks (archives run to gigabytes): what download records and
verifies, and what a cache notes of the labels it was built from."""
from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
