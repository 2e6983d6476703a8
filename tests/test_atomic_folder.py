"""atomic_folder: a folder that exists is complete; a failed write leaves the old one and no temporary folder."""

import pytest

from heedful.runs import atomic_folder


def test_replaces_an_existing_folder_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    atomic_folder(target, lambda tmp: (tmp / "new.txt").write_text("new"))
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_write_keeps_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "kept.txt").write_text("old")

    def fail(tmp):
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_folder(target, fail)
    assert [p.name for p in target.iterdir()] == ["kept.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
