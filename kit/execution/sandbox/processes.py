"""Processes and files of sandboxed runs, seen from the host.

- :class:`UidLease`: a root grader gives each live run an unprivileged host uid of its
  own (a lock file per uid keeps concurrent runs, in threads or processes, apart);
- sweeps: :func:`kill_uid_processes` (every process of a run's uid) and
  :func:`kill_pidns_processes` (every process of a run's PID namespace, for an
  unprivileged grader whose runs keep its uid);
- :func:`read_sandbox_file`: reading back a file that sandboxed code could have replaced
  by a link, without following it;
- :func:`is_private_dir`: a folder nobody else can write to (lock files, caches).
"""

from __future__ import annotations

import fcntl
import functools
import os
import pwd
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path

from ...errors import KitError

#: First host uid leased to sandboxes when the grader runs as root, and how many.
#: Override with the environment variables KIT_SANDBOX_UID_BASE / KIT_SANDBOX_UID_COUNT.
UID_BASE = int(os.environ.get("KIT_SANDBOX_UID_BASE", "1900000000"))
UID_COUNT = int(os.environ.get("KIT_SANDBOX_UID_COUNT", "10000"))

_leased_here: set[int] = set()
_lease_lock = threading.Lock()


def is_private_dir(path: str | os.PathLike) -> bool:
    """True if *path* is a folder (not a link) of this user's that nobody else can write to."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _uid_lock_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "kit-sandbox-uids"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise KitError(
            f"cannot create the uid lock folder: {exc}",
            where=str(path),
            fix="make the temporary folder writable, or set TMPDIR",
        ) from exc
    if not is_private_dir(path):
        raise KitError(
            "the uid lock folder is not a private folder of this user",
            where=str(path),
            fix=f"remove {path} (it must be a folder owned by uid {os.geteuid()}, not writable by others)",
        )
    return path


class UidLease:
    """A host uid reserved for one sandboxed run, until :meth:`release`.

    Reservation is by a POSIX lock on ``$TMPDIR/kit-sandbox-uids/<uid>`` (other
    processes) and by a set (other threads of this process). Uids that exist in the
    password database are never used. A freshly leased uid is swept: any process
    still running under it (left over from a crashed grader) is killed.
    """

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self._fd = fd

    @classmethod
    def acquire(cls) -> UidLease:
        lock_dir = _uid_lock_dir()
        start = (os.getpid() * 7919 + threading.get_ident()) % UID_COUNT
        for i in range(UID_COUNT):
            uid = UID_BASE + (start + i) % UID_COUNT
            with _lease_lock:
                if uid in _leased_here:
                    continue
                try:
                    pwd.getpwuid(uid)
                    continue  # a real user: never borrow it
                except KeyError:
                    pass
                fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                _leased_here.add(uid)
            kill_uid_processes(uid)
            return cls(uid, fd)
        raise KitError(
            f"all {UID_COUNT} sandbox uids are in use",
            where=str(lock_dir),
            fix="run fewer notebooks at once, or raise KIT_SANDBOX_UID_COUNT",
        )

    def release(self) -> None:
        if self._fd < 0:
            return
        with _lease_lock:
            _leased_here.discard(self.uid)
            os.close(self._fd)  # drops the POSIX lock
            self._fd = -1


def processes_of_uid(uid: int) -> list[int]:
    """PIDs of the processes whose real uid is *uid* (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def kill_uid_processes(uid: int, *, rounds: int = 20) -> int:
    """SIGKILL every process of *uid* (a sandbox uid) until a scan finds none.

    Returns how many were still found by the last scan: 0 means none is left, and then
    none can appear again (only a process of that uid, or root, could create one).
    """
    if uid == 0 or uid == os.getuid():
        raise ValueError("refusing to kill the processes of the grader's own uid")
    pids: list[int] = []
    for _ in range(rounds):
        pids = processes_of_uid(uid)
        if not pids:
            return 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return len(pids)


@functools.lru_cache(maxsize=1)
def _own_pidns() -> str:
    return os.readlink("/proc/self/ns/pid")


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _alive_in(pid: str, pidns: str) -> bool:
    """True if host process *pid* is alive (not a zombie) and in PID namespace *pidns*."""
    try:
        if os.readlink(f"/proc/{pid}/ns/pid") != pidns:
            return False
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def processes_in_pidns(pidns: str) -> list[int]:
    """Host pids of the live processes of PID namespace *pidns* (``pid:[inode]``), from /proc."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _alive_in(p, pidns)]


def kill_pidns_processes(pidns: str, pid1: int | None = None, *, timeout: float = 5.0) -> int:
    """SIGKILL every live process of PID namespace *pidns* until a scan finds none.

    The caller has killed the namespace's PID 1 (*pid1*): the kernel then kills every
    member and no new one can be born, so a scan that finds none is final. Returns how many
    were still alive at the deadline (0: none).
    """
    if pidns == _own_pidns():
        raise ValueError("refusing to kill the processes of the grader's own PID namespace")
    deadline = time.monotonic() + timeout
    while True:
        pids = processes_in_pidns(pidns)
        if not pids:
            return 0
        if time.monotonic() > deadline:
            return len(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def read_sandbox_file(path: str | os.PathLike, max_bytes: int, *, tail: bool = False) -> bytes | None:
    """Read a file that sandboxed code could have replaced, without following links.

    Participant code can swap any file in its writable folders for a symlink (to
    ``/etc/shadow``, to hidden labels...): the grader, reading it on the host, would
    follow the link. This opens with ``O_NOFOLLOW`` and reads regular files only.
    Use it (or the same care) for everything read back from a work or runtime folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if tail and st.st_size > max_bytes:
            os.lseek(fd, st.st_size - max_bytes, os.SEEK_SET)
        chunks, left = [], max_bytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
