"""The DVC cache type is one that parallel experiments cannot damage.

`dvc queue start -j 2` runs experiments in their own workspaces over one shared cache. When
both commit the same file (the data stages of two experiments queued from scratch), DVC first
tries a copy-on-write clone onto the cache path, and on Linux that opens an existing cache file
with O_TRUNC before the clone fails over. A hard-linked (or symlinked) workspace file shares the
cache file's inode, so it is emptied with it; a copy is not.
"""

import configparser
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cache_types() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    return [t.strip() for t in config["cache"]["type"].strip('"').split(",")]


def test_workspace_files_never_share_the_cache_files_inode():
    assert set(cache_types()) <= {"reflink", "copy"}, cache_types()


@pytest.mark.skipif(sys.platform != "linux", reason="the truncating clone attempt is DVC's Linux path")
def test_dvc_clone_attempt_empties_an_existing_destination(tmp_path):
    """Why the cache type above matters: if DVC stops truncating, hard links are safe again."""
    system = pytest.importorskip("dvc_objects.fs.system")
    workspace, cache, other = tmp_path / "b.png", tmp_path / "cache", tmp_path / "a.png"
    workspace.write_bytes(b"image")
    os.link(workspace, cache)
    other.write_bytes(b"image")
    try:
        system.reflink(str(other), str(cache))
    except OSError:
        pass
    else:
        pytest.skip("this file system clones files; the clone replaced the cache file whole")
    assert workspace.read_bytes() == b"", "DVC no longer empties the destination: hard links are safe again"
