"""A run folder is user data: one writer at a time, never overwritten by accident.

:class:`RunFolder` is what ``marl train`` holds while it writes a run:

- **One writer.** An exclusive ``flock`` on ``RUN_DIR/.lock`` (the file also records the pid).
  The kernel drops the lock when the process ends, however it ends, so a killed run never leaves
  its folder stuck; a second writer fails at once, naming the folder and the pid.
- **No silent overwrite.** A new run refuses a folder that already holds a run (``config.json``,
  ``checkpoints/``, ``tb/``, ``init/`` or ``fixed/``); ``overwrite=True`` removes those, and
  nothing else.
- **Problems before training, in one line.** A folder that cannot be created (a file in the way, a
  read-only parent) or written (a write probe), or a disk without room for the checkpoints
  (:meth:`RunFolder.check_free_space`), is a :class:`RunFolderError` naming the folder.
- **Stale temporary files** of a writer that was killed (``.tmp-*``, ``.trash-*``, ``.*.tmp``) are
  removed by the next writer, once it holds the lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: no lock (one writer is then the user's responsibility)
    fcntl = None

LOCK_FILE = ".lock"
RUN_ENTRIES = ("config.json", "checkpoints", "tb", "init", "fixed")


class RunFolderError(ValueError):
    """A run folder cannot be used (exists, locked, unwritable, full); the message names it."""


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


class RunFolder:
    """A run folder held by this process (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.created = False
        self._fd: int | None = None

    # ------------------------------------------------------------------------------ opening
    def create(self) -> None:
        """Create the folder (and its parents), or check that the existing one is a folder."""
        path = self.path
        if path.is_dir():
            return
        if path.exists() or path.is_symlink():
            raise RunFolderError(f"run folder {path}: exists and is not a folder")
        try:
            path.mkdir(parents=True)
            self.created = True
        except FileExistsError:
            if not path.is_dir():
                raise RunFolderError(f"run folder {path}: exists and is not a folder") from None
        except NotADirectoryError:
            raise RunFolderError(
                f"run folder {path}: cannot be created (a file is in the way of one of its parents)"
            ) from None
        except OSError as error:
            raise RunFolderError(
                f"run folder {path}: cannot be created ({_reason(error)})"
            ) from None

    def probe(self) -> None:
        """Write, sync and remove a small file: fails early on a read-only folder or full disk."""
        probe = self.path / f".write-probe-{os.getpid()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"probe\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise RunFolderError(
                f"run folder {self.path}: not writable ({_reason(error)})"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def lock(self) -> None:
        """Take the folder's writer lock, or fail naming the folder and the pid that holds it."""
        if fcntl is None or self._fd is not None:
            return
        path = self.path / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            raise RunFolderError(
                f"run folder {self.path}: cannot lock ({_reason(error)})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                text = os.pread(fd, 32, 0).decode("ascii").strip()
                holder = f" (pid {int(text)})" if text else ""
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderError(
                    f"run folder {self.path}: in use by another marl train{holder}; wait for it "
                    "to end or stop it"
                ) from None
            raise RunFolderError(
                f"run folder {self.path}: cannot lock ({_reason(error)})"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel when the process ends)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def open_new(self, overwrite: bool = False) -> None:
        """Create, probe and lock the folder of a new run; refuse one that holds a run unless
        ``overwrite``, which removes the run's own entries (``RUN_ENTRIES``) only."""
        self.create()
        self.probe()
        self.lock()
        existing = [name for name in RUN_ENTRIES if (self.path / name).exists()]
        if existing and not overwrite:
            self.release()
            raise RunFolderError(
                f"run folder {self.path}: already holds a run ({', '.join(existing)}); continue "
                "it with --resume, or pass --overwrite to replace it"
            )
        for name in existing:
            target = self.path / name
            try:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            except OSError as error:
                raise RunFolderError(
                    f"run folder {self.path}: cannot remove {name} ({_reason(error)})"
                ) from None
        self.clean_stale()

    def open_existing(self) -> None:
        """Lock an existing run folder and probe it for writing (``--resume``)."""
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path}: does not exist")
        self.probe()
        self.lock()
        self.clean_stale()

    def abandon(self) -> None:
        """Undo :meth:`open_new` for a run that never started: drop the lock, and remove the
        folder if this process created it and nothing else was written there."""
        self.release()
        if self.created:
            with contextlib.suppress(OSError):
                (self.path / LOCK_FILE).unlink()
                self.path.rmdir()

    # ---------------------------------------------------------------------------- upkeep
    def clean_stale(self) -> None:
        """Remove temporary files and folders left by a killed writer (the lock is held)."""
        places = [self.path, self.path / "checkpoints", self.path / "init", self.path / "fixed"]
        for place in places:
            if not place.is_dir() or place.is_symlink():
                continue
            for entry in place.iterdir():
                name = entry.name
                stale = name.startswith((".tmp-", ".trash-", ".write-probe-")) or (
                    name.startswith(".") and name.endswith(".tmp")
                )
                if not stale:
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()

    def check_free_space(self, needed: int, what: str) -> None:
        """Fail in one line when the folder's file system has less than ``needed`` bytes free."""
        try:
            free = shutil.disk_usage(self.path).free
        except OSError:
            return
        if free < needed:
            raise RunFolderError(
                f"run folder {self.path}: {_size(free)} free, {what} need about {_size(needed)}; "
                "free some space or lower keep_checkpoints"
            )

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["LOCK_FILE", "RUN_ENTRIES", "RunFolder", "RunFolderError"]
