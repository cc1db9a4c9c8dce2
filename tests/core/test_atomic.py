"""What atomic writes say when the writing fails: the file where it was going, never its temporary."""
import errno
from pathlib import Path

import pytest

from pmtiqa.core.atomic import atomic_dir, atomic_path, temporaries


def full_disk(name: Path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(name))


# (case, the writer, the file its body fails on (from the temporary), the name the error should give)
CASES = [
    ("a file", atomic_path, lambda tmp: tmp, lambda dest: dest),
    ("a file in a folder", atomic_dir, lambda tmp: tmp / "distorted" / "a.png", lambda dest: dest / "distorted" / "a.png"),
    ("the folder itself", atomic_dir, lambda tmp: tmp, lambda dest: dest),
    ("a file elsewhere", atomic_dir, lambda tmp: Path("/elsewhere/b.png"), lambda dest: Path("/elsewhere/b.png")),
]


@pytest.mark.parametrize("case, writer, failing, named", CASES, ids=[c[0] for c in CASES])
def test_a_failed_write_names_the_destination(tmp_path, case, writer, failing, named):
    dest = tmp_path / "out" / "synthetic"
    with pytest.raises(OSError) as err, writer(dest) as tmp:
        raise full_disk(failing(tmp))
    assert err.value.filename == str(named(dest)) and err.value.errno == errno.ENOSPC
    assert not dest.exists() and not temporaries(dest)  # nothing half-written is left
