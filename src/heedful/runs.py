"""Run folders and atomic writes: a crash never leaves a half-written config, metric or picture."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from heedful.errors import InputError

log = logging.getLogger(__name__)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a fresh temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # same folder so os.replace is atomic; not mkstemp, whose 0600 mode would make outputs owner-only. The name is
    # cut so that any name the file system allows for the target still allows its temporary name
    tmp = path.with_name(f".{path.name[:64]}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.filename not in (str(tmp), tmp):  # about another file (one the writer reads): as it is
            raise
        # the folder refuses files (/proc), is read-only, or the disk is full: name the output, not our temporary
        raise InputError(f"{path}: cannot write there ({err.strerror or type(err).__name__})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def require_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a regular file to read: a missing one is FileNotFoundError, a folder or a device, FIFO or socket
    (``/dev/zero`` would be read forever) one clear error each."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a {what}")
    if path.exists():
        raise InputError(f"{path}: not a regular file (a device, FIFO or socket); expected a {what}")
    raise FileNotFoundError(f"no such {what}: {path}")


def atomic_folder(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` on a fresh temporary folder beside ``path``, then put it in place: a folder that
    exists is complete. An existing ``path`` (a damaged or older copy) goes aside first, as a folder cannot be
    replaced in one step, and is removed after."""
    path = Path(path)
    tmp = path.with_name(f".{path.name[:64]}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        old = path.with_name(f".{path.name[:64]}.{uuid.uuid4().hex}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def check_out_path(
    path: str | Path, inputs: Iterable[str | Path] = (), what: str = "--out", folder: bool = False
) -> Path:
    """A path the user asked to write (a file, or a ``folder`` for run folders), checked before any work is done:
    every name fits the file system's limits, no existing part of it is a file where a folder must be, it is not a
    folder (a file) or a file (a folder), and it is none of ``inputs`` (the same file under any name): writing
    there would destroy what is being read."""
    path = Path(path)
    _check_name_lengths(path, what)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{what} {path}: {parent} is a file, not a folder")
            break
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{what} {path}: is a file; give a folder for run folders")
    if not folder and path.is_dir():
        raise InputError(f"{what} {path}: is a folder; give a file path")
    if not folder and path.exists() and not path.is_file():  # the rename would replace the device node itself
        raise InputError(f"{what} {path}: not a regular file (a device, FIFO or socket); give a file path")
    for source in inputs:
        if _same_file(path, Path(source)):
            raise InputError(f"{what} {path}: is the input {source}; writing it would destroy it, give another path")
    return path


def _check_name_lengths(path: Path, what: str) -> None:
    """Before the path touches the file system, which answers an over-long one with ENAMETOOLONG."""
    try:
        name_max, path_max = os.pathconf(".", "PC_NAME_MAX"), os.pathconf(".", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows): the common limits
        name_max, path_max = 255, 4096
    if len(os.fsencode(path.absolute())) >= path_max:
        raise InputError(f"{what}: path of {len(str(path))} characters, over the file system's limit of {path_max}")
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise InputError(
                f"{what}: the name {part[:24]}... is {len(os.fsencode(part))} bytes long, over the file system's "
                f"limit of {name_max}"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:  # a loop of links or an unreadable folder: compare the names as given
        return a.absolute() == b.absolute()


def read_json(path: str | Path):
    """Parse a JSON file; a missing, undecodable or malformed file is one clear error naming the file."""
    path = require_file(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None
    except DuplicateKey as err:
        raise InputError(f"{path}: {err}") from None
    except ValueError as err:  # an integer of more digits than Python converts (4,300)
        raise InputError(f"{path}: {' '.join(str(err).split())[:160]}") from None
    return check_unicode(obj, path)


def check_unicode(obj, where):
    """``obj`` (parsed JSON) holds no lone surrogate: JSON lets ``"\\ud800"`` through, but no UTF-8 output can hold
    it, so a text with one would fail when written back. Refused naming the first place."""
    stack = [(obj, "")]
    while stack:
        value, at = stack.pop()
        if isinstance(value, dict):
            stack += [(v, f"{at}.{k}" if at else str(k)) for k, v in value.items()]
            stack += [(k, f"{at}{' key' if at else 'key'} {k!r}"[:80]) for k in value]
        elif isinstance(value, list):
            stack += [(v, f"{at}[{i}]") for i, v in enumerate(value)]
        elif isinstance(value, str) and _SURROGATE.search(value):
            char = _SURROGATE.search(value).group()
            raise InputError(f"{where}: {at or 'text'}: a lone surrogate \\u{ord(char):04x} (not Unicode text)")
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")


class DuplicateKey(ValueError):
    pass


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``json.loads``'s ``object_pairs_hook`` for objects whose keys are unique: with a key twice, the last value
    would win silently. Raises ``DuplicateKey`` naming the key (every JSON heedful reads: files and requests)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DuplicateKey(f"key {key[:80]!r} appears twice in one object")
    return obj


def read_npz(path: str | Path, what: str) -> dict:
    """Every array of an ``.npz`` heedful wrote (no pickles), read eagerly; a missing file is FileNotFoundError, a
    truncated, empty or garbage one an InputError naming it as ``what`` (callers with a cache rebuild on it)."""
    import zipfile

    import numpy as np

    path = require_file(path, what)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise InputError(f"{path}: not a heedful {what} ({reason})") from None


def write_json(path: str | Path, obj) -> Path:
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def new_run_dir(root: str | Path, name: str) -> Path:
    """``root/name-YYYYmmdd-HHMMSS`` (with a numeric suffix if taken), created; ``root`` is the user's ``--out``."""
    check_out_path(Path(root) / name, what="--out", folder=True)  # root and the run folder's name both fit
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


LOCK = "heedful.lock"


class RunLocked(InputError):
    """Another live process writes this run folder."""


@contextlib.contextmanager
def hold_run(folder: str | Path, announce: bool = False) -> Iterator[Path]:
    """Hold ``folder/heedful.lock`` for the block: one writer per run folder. A second writer (a concurrent
    ``--resume`` too) is refused in one line naming the holder's pid. The lock is an OS file lock (``flock``), so a
    holder killed with ``kill -9`` releases it; the pid it left in the file is then taken over with a warning. The
    file is removed when the block ends, by an exception too. The processes of one ``accelerate launch`` (torchrun's
    ``RANK``) are one writer: rank 0 holds the lock. ``announce``: say which folder is written (stdout)."""
    folder = Path(folder)
    if os.environ.get("RANK", "0") != "0":  # a process of a distributed launch (torchrun): rank 0 holds the run
        yield folder
        return
    path = folder / LOCK
    fd = _acquire(path)
    try:
        if announce:  # at the start, where the commands say it, so that a long run can be found while it runs
            print(f"run folder: {folder}", flush=True)
        yield folder
    finally:
        path.unlink(missing_ok=True)  # before the lock is let go: a waiting writer never finds a removed file locked
        os.close(fd)


def _acquire(path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                raise RunLocked(f"{path.parent}: in use by process {_holder(fd)} ({path.name}); wait for it to end")
            if os.path.exists(path) and os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # else the holder removed the file between our open and lock: try again on the new one
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    stale = _holder(fd)
    if stale is not None:
        log.warning("%s: took over the lock of process %d, which is no longer running", path.parent, stale)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the pid in the file decides
        return _holder(fd) is None or not _alive(_holder(fd))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd: int) -> int | None:
    """The pid written in a lock file, or None when there is none (a fresh file)."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
