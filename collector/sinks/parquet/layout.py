"""Where the archive's files lie, and the file-system steps that make a file appear whole.

    <path>/<kind>/exchange=<name>/date=<YYYY-MM-DD>/part-<first>-<last>.parquet
    <path>/<kind>/exchange=<name>/date=<YYYY-MM-DD>/data.parquet      (a compacted day)

`first` and `last` are the journal positions of the range a write covered (both included): the
same range always gives the same names, which is what makes a rewrite after a crash land on the
files it wrote before instead of beside them. Temporary files start with a dot and end in `.tmp`,
and the staging area starts with an underscore: readers skip both (pyarrow's dataset ignores
`.`/`_` names, and `*.parquet` globs never match `.tmp`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

COMPACTED: Final = "data.parquet"
STAGING: Final = "_staging"  # compacted days are built here, then swapped in
STATE: Final = "_archive_state.json"
_PART = re.compile(r"part-(\d+)-(\d+)\.parquet")
_DAY_MS: Final = 86_400_000
_AT_FDCWD: Final = -100
_RENAME_EXCHANGE: Final = 2


def day_of(ts_ms: int) -> str:
    """The UTC day of a timestamp, as the `date=` partition writes it."""
    return datetime.fromtimestamp(ts_ms // _DAY_MS * 86_400, UTC).strftime("%Y-%m-%d")


def day_end(day: str) -> float:
    """Epoch seconds at which the UTC day `day` ends."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() + 86_400


def partition(root: Path, kind: str, exchange: str, day: str) -> Path:
    return root / kind / f"exchange={exchange}" / f"date={day}"


def part_name(first: int, last: int) -> str:
    return f"part-{first}-{last}.parquet"


def part_range(name: str) -> tuple[int, int] | None:
    """(first, last) of a part file's name; None for any other file."""
    match = _PART.fullmatch(name)
    return (int(match[1]), int(match[2])) if match else None


def temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def days(root: Path) -> Iterator[tuple[str, Path]]:
    """(day, directory) of every day partition in the archive."""
    for kind_dir in _subdirs(root):
        if kind_dir.name.startswith(("_", ".")):
            continue
        for exchange_dir in _subdirs(kind_dir):
            for day_dir in _subdirs(exchange_dir):
                if day_dir.name.startswith("date="):
                    yield day_dir.name.removeprefix("date="), day_dir


def parts_of(day_dir: Path) -> list[Path]:
    """The part files of a day partition, in journal order."""
    found = [(rng, day_dir / name) for name in os.listdir(day_dir) if (rng := part_range(name))]
    return [path for _, path in sorted(found)]


def remove_leftovers(root: Path) -> int:
    """Delete temporary files and the staging area a crash left behind; how many went."""
    removed = 0
    staging = root / STAGING
    if staging.exists():
        _restore_set_aside_days(root, staging)
        shutil.rmtree(staging)
        removed += 1
    for _, day_dir in days(root):
        for name in os.listdir(day_dir):
            if name.startswith(".") and name.endswith(".tmp"):
                (day_dir / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _restore_set_aside_days(root: Path, staging: Path) -> None:
    """A crash inside swap_dirs' two-rename fallback can leave a day only at `<day>.old` in the
    staging area: put it back before the staging area goes."""
    for aside in staging.glob("*/*/*.old"):
        day_dir = root / aside.parent.relative_to(staging) / aside.name.removesuffix(".old")
        if not day_dir.exists():
            os.rename(aside, day_dir)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path) -> None:
    """`mkdir -p`, with every directory created made durable in its parent."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


def swap_dirs(new: Path, old: Path) -> None:
    """Put `new` where `old` is in one step (renameat2 RENAME_EXCHANGE): a reader sees the old
    directory or the new one, never neither nor both. `old`'s content ends up at `new`."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(old), _RENAME_EXCHANGE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(old))
    # A file system without RENAME_EXCHANGE: two renames, the day missing for a moment between.
    aside = new.with_name(new.name + ".old")
    os.rename(old, aside)
    os.rename(new, old)
    os.rename(aside, new)


def _subdirs(directory: Path) -> list[Path]:
    try:
        return sorted(entry for entry in directory.iterdir() if entry.is_dir())
    except FileNotFoundError:
        return []
