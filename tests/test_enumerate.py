"""Listing a camera never follows a link out, never opens special files, refuses bad names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bodycam_ingest.ingest.enumerate import list_camera, name_problem, open_beneath

GLOBS = ("DCIM/**/*.MP4",)


def _camera(tmp_path: Path) -> Path:
    media = tmp_path / "cam" / "DCIM" / "100MEDIA"
    media.mkdir(parents=True)
    (media / "A_B_20261120093000_0001.MP4").write_bytes(b"video")
    (media / "notes.txt").write_text("ignored")
    return tmp_path / "cam"


def _list(root: Path, **kw: int):  # type: ignore[no-untyped-def]
    return list_camera(root, GLOBS, max_entries=kw.get("max_entries", 1000),
                       max_depth=kw.get("max_depth", 8))


def test_symlink_pointing_outside_the_camera_is_refused_not_followed(tmp_path: Path) -> None:
    root = _camera(tmp_path)
    secret = tmp_path / "secret.MP4"
    secret.write_text("not from the camera")
    os.symlink(secret, root / "DCIM" / "100MEDIA" / "escape.MP4")
    os.symlink(tmp_path, root / "DCIM" / "linkdir")
    listing = _list(root)
    assert [f.relpath for f in listing.files] == ["DCIM/100MEDIA/A_B_20261120093000_0001.MP4"]
    reasons = {r.relpath: r.reason for r in listing.rejected}
    assert reasons["DCIM/100MEDIA/escape.MP4"] == "symbolic link, not followed"
    assert reasons["DCIM/linkdir"] == "symbolic link, not followed"


def test_fifo_and_device_files_are_never_opened(tmp_path: Path) -> None:
    root = _camera(tmp_path)
    os.mkfifo(root / "DCIM" / "100MEDIA" / "pipe.MP4")
    listing = _list(root)  # would hang forever if the FIFO were opened for reading
    assert any(r.reason.startswith("not a regular file (FIFO)") for r in listing.rejected)
    assert len(listing.files) == 1


@pytest.mark.parametrize("name", ["..\\..\\etc\\passwd.MP4", "evil\nname.MP4", "bell\x07.MP4",
                                  "bad\udcff.MP4"])
def test_names_with_traversal_or_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    root = _camera(tmp_path)
    raw = os.fsencode(name)
    with open(os.path.join(os.fsencode(root), b"DCIM", b"100MEDIA", raw), "wb") as handle:
        handle.write(b"x")
    listing = _list(root)
    assert len(listing.files) == 1
    assert len(listing.rejected) == 1
    assert listing.rejected[0].reason.startswith("name ")
    assert "\n" not in listing.rejected[0].relpath


def test_name_problem_is_none_for_ordinary_names() -> None:
    assert name_problem("A1024_DSJ9X001_20261120093000_0001.MP4") is None
    assert name_problem("..") is not None


def test_depth_and_entry_count_are_bounded(tmp_path: Path) -> None:
    root = _camera(tmp_path)
    deep = root / "DCIM" / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "x.MP4").write_bytes(b"x")
    listing = _list(root, max_depth=3)
    assert any("deeper than ingest.max_depth=3" in r.reason for r in listing.rejected)
    assert all("/d/" not in f.relpath for f in listing.files)
    many = _list(root, max_entries=3)
    assert many.truncated is not None and "ingest.max_entries" in many.truncated


def test_open_beneath_refuses_symlinked_directories_and_dotdot(tmp_path: Path) -> None:
    root = _camera(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.MP4").write_text("outside")
    os.symlink(outside, root / "DCIM" / "sneaky")
    with pytest.raises(OSError):
        open_beneath(root, "DCIM/sneaky/x.MP4")
    with pytest.raises(OSError):
        open_beneath(root, "DCIM/../../outside/x.MP4")
    fd = open_beneath(root, "DCIM/100MEDIA/A_B_20261120093000_0001.MP4")
    try:
        assert os.read(fd, 10) == b"video"
    finally:
        os.close(fd)


def test_could_hold_follows_the_literal_prefix_of_each_glob() -> None:
    from bodycam_ingest.ingest.enumerate import could_hold

    globs = ("DCIM/**/*.MP4", "Record/*.AVI")
    assert could_hold("DCIM", globs) and could_hold("dcim/100MEDIA", globs)
    assert could_hold("RECORD", globs)
    assert not could_hold("lost+found", globs) and not could_hold("DC", globs)
    assert not could_hold("System Volume Information", globs)
    assert could_hold("anything", ("*.MP4",))  # fnmatch's * spans folders: everything could


def test_a_directory_that_cannot_hold_recordings_is_never_walked(tmp_path: Path) -> None:
    """ext4's lost+found (root, 0700) must not fail a dock: it is not even opened."""
    (tmp_path / "DCIM").mkdir()
    (tmp_path / "DCIM" / "A.MP4").write_bytes(b"x")
    lost = tmp_path / "lost+found"
    lost.mkdir()
    (lost / "link").symlink_to("/etc/passwd")  # would be a refused entry if it were walked
    listing = list_camera(tmp_path, ("DCIM/**/*.MP4",), max_entries=100, max_depth=8)
    assert [f.relpath for f in listing.files] == ["DCIM/A.MP4"]
    assert listing.rejected == []
