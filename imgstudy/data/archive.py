"""Safe archive extraction: nothing outside the target, never a half-extracted folder."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from imgstudy.core.errors import UnsafeArchive

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _check_member(name: str, root: Path) -> None:
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise UnsafeArchive(f"archive member {name!r} would be written outside {root}; refusing the archive")


def extract(archive: Path, dest: Path) -> Path:
    """Extract into a temporary folder beside dest, then rename: dest appears whole or not at all.

    Every member is checked first: absolute paths, '..' and links that leave the target
    make the whole archive refused before anything is written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    root = tmp.resolve()
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    _check_member(name, root)
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    _check_member(m.name, root)
                    if m.issym() or m.islnk():
                        _check_member(os.path.join(os.path.dirname(m.name), m.linkname), root)
                    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                        raise UnsafeArchive(f"archive member {m.name!r} is a device or fifo; refusing the archive")
                t.extractall(tmp, filter="data")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
