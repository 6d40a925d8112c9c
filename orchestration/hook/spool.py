"""The hook's local queue: one JSON event a line, in a file only its owner can read.

Several Claude Code sessions run hooks at once, and a sender may be emptying the file while
they do, so every access holds an exclusive `flock` on a lock file beside the spool (never on
the spool itself: the sender replaces the spool file when it removes what it sent, and a writer
waiting on the old file's lock would append to a file no longer there). Writers append whole
lines under the lock, so lines never interleave; the sender reads a batch under the lock, sends
it without holding the lock (a slow network must not stall a prompt), and then, under the lock
again, replaces the spool with what follows the batch. Lines appended meanwhile are kept.

Paths, from the spool's (`VAULT_HOOK_SPOOL`, default `~/.local/state/vault/claude-hook.jsonl`):
`<spool>.lock` for the lock, `<spool>.sender.lock` held by the one sender running,
`<spool>.rejected` for lines the sender could not read, and `claude-hook.log` (the spool's
name with `.log`) for what went wrong. All are created with mode 0600 in a 0700 folder.
"""

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator, Mapping

SPOOL_ENV = "VAULT_HOOK_SPOOL"
DEFAULT_SPOOL = "~/.local/state/vault/claude-hook.jsonl"
MAX_LOG_BYTES = 256 * 1024

_FILE_MODE = 0o600
_FOLDER_MODE = 0o700


def spool_path(env: Mapping[str, str] | None = None) -> str:
    """The spool file: `VAULT_HOOK_SPOOL`, else the default under `~/.local/state/vault`."""
    env = os.environ if env is None else env
    return os.path.abspath(os.path.expanduser(env.get(SPOOL_ENV) or DEFAULT_SPOOL))


def lock_path(spool: str) -> str:
    return spool + ".lock"


def sender_lock_path(spool: str) -> str:
    return spool + ".sender.lock"


def rejected_path(spool: str) -> str:
    return spool + ".rejected"


def log_path(spool: str) -> str:
    return os.path.splitext(spool)[0] + ".log"


def open_private(path: str, flags: int) -> int:
    """Open (creating if needed) a file only its owner may read, in a private folder."""
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        os.makedirs(folder, mode=_FOLDER_MODE, exist_ok=True)
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    try:
        # The creation mode is cut by the umask only, but a file made by something else
        # earlier may be wider: narrow it every time, it costs one system call.
        os.fchmod(fd, _FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(spool: str) -> Iterator[None]:
    """Hold the spool's lock (exclusive, waiting for it) for the duration of the block."""
    fd = open_private(lock_path(spool), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_lines(spool: str, lines: list[str]) -> None:
    """Append `lines` (without newlines) to the spool as one write under the lock."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    with locked(spool):
        fd = open_private(spool, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)


def read_batch(spool: str, max_lines: int) -> tuple[list[bytes], int]:
    """The first `max_lines` lines of the spool and how many bytes they take.

    A last line without its newline (only a crash mid-write leaves one) is returned too, so
    that the sender rejects it rather than leaving it to block the spool.
    """
    lines: list[bytes] = []
    with locked(spool):
        try:
            with open(spool, "rb") as spool_file:
                while len(lines) < max_lines:
                    line = spool_file.readline()
                    if not line:
                        break
                    lines.append(line)
                return lines, spool_file.tell()
        except FileNotFoundError:
            return [], 0


def drop_prefix(spool: str, consumed: int) -> None:
    """Remove the first `consumed` bytes of the spool, keeping whatever follows them.

    The rest is copied to a new file that then replaces the spool in one rename, so a crash
    leaves either the old spool (its events are sent again; staging drops the duplicates by
    event id) or the new one, never a half-written file.
    """
    with locked(spool):
        temporary = f"{spool}.{os.getpid()}.tmp"
        fd = open_private(temporary, os.O_WRONLY | os.O_TRUNC)
        try:
            with open(spool, "rb") as source:
                source.seek(consumed)
                while chunk := source.read(1024 * 1024):
                    _write_all(fd, chunk)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temporary)
            raise
        os.close(fd)
        os.replace(temporary, spool)


def pending_bytes(spool: str) -> int:
    """How much is waiting in the spool (0 when it does not exist)."""
    try:
        return os.stat(spool).st_size
    except FileNotFoundError:
        return 0


def log(spool: str, message: str) -> None:
    """Append a line to the hook's log beside the spool; never raises.

    The log is kept small: past `MAX_LOG_BYTES` it is moved to `<log>.1`, replacing the
    previous one, so an engineer offline for weeks does not fill a disk with it.
    """
    with contextlib.suppress(Exception):  # the log is the last resort: nothing is left to tell
        path = log_path(spool)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_size > MAX_LOG_BYTES:
                os.replace(path, path + ".1")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp} pid={os.getpid()} {message}".replace("\n", " | ") + "\n"
        fd = open_private(path, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, line.encode("utf-8", errors="replace"))
        finally:
            os.close(fd)
