"""A worker's cache of fetched inputs, on its local disk, shared by all its processes.

The probe of a job's input and each of the job's outputs that run on one worker read one
downloaded copy instead of downloading the input again. ``workers.inputs.Stager`` is the
only caller: what it caches went through its checks and its byte count first.

- Key: SHA-256 of where the bytes come from (the storage's URL of the object, or the final
  URL of an HTTP input) and their ``shared.storage.Identity`` (size and ETag), looked up
  just before. A replaced object has another identity, so another entry: it is fetched
  again, never served stale. (Replaced between the lookup and the download, the entry
  holds the newer bytes under the older identity, which no later lookup returns.)
- Layout, in one folder (``MCFARM_INPUT_CACHE_DIR``): ``<key>.data`` the bytes (read-only),
  ``<key>.lock`` its lock file, ``<key>.part`` a download in progress; ``cache.lock``
  guards eviction and ``stats.json`` (the counters).
- Concurrency: a process holds ``flock`` on ``<key>.lock`` while it looks for the entry,
  fills it (a download to ``.part``, renamed into place when complete) and takes its copy;
  two processes asking for one input at once download it once, the second then hits.
- A task's copy is a hard link in its own work folder (a copy when the cache is on another
  filesystem): evicting the entry later removes the cache's name, not the task's data.
- Eviction: least recently used first (a hit touches the entry's mtime), before each fill,
  down to ``MCFARM_INPUT_CACHE_BYTES`` with the new entry counted. An entry that another
  process holds locked (filling it or taking its copy) is left for the next time. An input
  larger than the cap, or without a version tag, goes straight to the task's folder, as
  every input does with the cache off (a cap of 0).
- Counters: hits, misses (downloads), bytes fetched, evictions, in ``stats.json`` and in
  the INFO line logged with each fetch ("input cache: fetched …" / "input cache: hit …").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from shared.config import Settings
from shared.errors import StorageUnavailable
from shared.storage import Identity

log = logging.getLogger(__name__)

DATA = ".data"
LOCK = ".lock"
PART = ".part"
CACHE_LOCK = "cache.lock"
STATS = "stats.json"


# --- decisions (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One cached input, as eviction sees it."""

    key: str
    size: int
    last_used_ns: int


def choose_evictions(entries: Iterable[Entry], cap: int, incoming: int = 0) -> list[str]:
    """The keys to drop so that what stays, plus ``incoming`` bytes, fits in ``cap``.

    Args:
        entries: what the cache holds.
        cap: the most bytes it may hold (``MCFARM_INPUT_CACHE_BYTES``).
        incoming: the size of an entry about to be added.

    Returns:
        Keys in the order to drop them: least recently used first (equal times by key);
        empty when everything fits.
    """
    ordered = sorted(entries, key=lambda e: (e.last_used_ns, e.key))
    excess = sum(entry.size for entry in ordered) + incoming - cap
    victims = []
    for entry in ordered:
        if excess <= 0:
            break
        victims.append(entry.key)
        excess -= entry.size
    return victims


def entry_key(source: str, identity: Identity) -> str:
    """The name of the entry holding ``source`` (what the bytes came from) at ``identity``."""
    material = f"{source}\n{identity.size}\n{identity.tag}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Counters:
    """What the cache did since its folder was made, all processes of the worker together."""

    hits: int = 0
    misses: int = 0
    bytes_fetched: int = 0
    evictions: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __str__(self) -> str:
        return " ".join(f"{name}={value}" for name, value in asdict(self).items())


# --- the cache --------------------------------------------------------------------------


@dataclass(frozen=True)
class InputCache:
    """The cache in folder ``root``, holding at most ``cap`` bytes (0 turns it off).

    It keeps no state in memory: every process that makes one for the same folder shares
    the same entries, locks and counters.
    """

    root: Path
    cap: int

    @classmethod
    def for_settings(cls, settings: Settings) -> InputCache:
        """The cache that ``MCFARM_INPUT_CACHE_DIR`` and ``MCFARM_INPUT_CACHE_BYTES`` name."""
        return cls(Path(settings.input_cache_path), settings.input_cache_bytes)

    def fetch(
        self,
        source: str,
        shown: str,
        identity: Identity,
        dest: Path,
        fill: Callable[[Path], None],
    ) -> bool:
        """Put the bytes of ``source`` at ``identity`` at ``dest``: cached, or filled once.

        Args:
            source: what the bytes come from (a storage or HTTP URL); part of the key, never
                logged (it may hold a token).
            shown: ``source`` as logs may show it.
            identity: its size and version tag, looked up just before.
            dest: where the task wants the file, in its own work folder.
            fill: writes the bytes to the path it is given (a download); called on a miss,
                or for ``dest`` itself when the cache cannot take this input.

        Returns:
            True when the bytes came from the cache (``fill`` was not called).

        Raises:
            StorageUnavailable: ``fill`` wrote another size than ``identity.size`` (the
                input changed meanwhile); nothing is cached then.
            Whatever ``fill`` raises; nothing is cached then either.
        """
        if not self._takes(identity):
            fill(dest)
            return False
        key = entry_key(source, identity)
        data = self.root / f"{key}{DATA}"
        with _locked(self.root / f"{key}{LOCK}"):
            hit = _holds(data, identity.size)
            if hit:
                _touch(data)
            else:
                self._make_room(identity.size)
                _fill(data, identity.size, fill)
            _link_or_copy(data, dest)
        delta = Counters(hits=1) if hit else Counters(misses=1, bytes_fetched=identity.size)
        with _locked(self.root / CACHE_LOCK):
            total = self._add(delta)
        what = "hit" if hit else "fetched"
        log.info("input cache: %s %s (%d bytes); %s", what, shown, identity.size, total)
        return hit

    def counters(self) -> Counters:
        """The counters as ``stats.json`` holds them now (zeros before the first fetch)."""
        try:
            return Counters(**json.loads((self.root / STATS).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return Counters()

    def _takes(self, identity: Identity) -> bool:
        """Whether this input goes through the cache: on, it fits, it names its version,
        and the folder belongs to this user alone (nobody else can plant an entry)."""
        if self.cap <= 0 or identity.size > self.cap or not identity.tag:
            return False
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.root.stat()
        except OSError as err:
            log.warning("input cache: %s is unusable (%s); fetching without it", self.root, err)
            return False
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            log.warning(
                "input cache: %s is not this user's own folder (owner %d, mode %o); "
                "fetching without it",
                self.root,
                st.st_uid,
                st.st_mode & 0o777,
            )
            return False
        return True

    def _make_room(self, incoming: int) -> None:
        """Evict least recently used entries so that ``incoming`` more bytes fit the cap;
        clear what dead downloads left behind."""
        with _locked(self.root / CACHE_LOCK):
            entries, debris = _scan(self.root)
            for key in debris:
                _remove_if_idle(self.root, key)
            victims = choose_evictions(entries, self.cap, incoming)
            evicted = {key for key in victims if _remove_if_idle(self.root, key)}
            if evicted:
                freed = sum(e.size for e in entries if e.key in evicted)
                total = self._add(Counters(evictions=len(evicted)))
                log.info("input cache: evicted %d (%d bytes); %s", len(evicted), freed, total)

    def _add(self, delta: Counters) -> Counters:
        """Add ``delta`` to ``stats.json`` (``cache.lock`` held) and return the new totals."""
        total = self.counters() + delta
        tmp = self.root / "stats.tmp"
        tmp.write_text(json.dumps(asdict(total)))
        os.replace(tmp, self.root / STATS)
        return total


# --- files and locks --------------------------------------------------------------------


def _scan(root: Path) -> tuple[list[Entry], list[str]]:
    """The entries in ``root``, and the keys that have files but no entry (a lock file
    left behind, a dead download's part)."""
    entries: list[Entry] = []
    others: set[str] = set()
    with os.scandir(root) as items:
        for item in items:
            key, _, kind = item.name.partition(".")
            if kind == DATA[1:]:
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entries.append(Entry(key, st.st_size, st.st_mtime_ns))
            elif kind == LOCK[1:] or kind.startswith(PART[1:]):
                others.add(key)
    return entries, sorted(others - {entry.key for entry in entries} - {"cache"})


def _remove_if_idle(root: Path, key: str) -> bool:
    """Remove entry ``key`` and its files, unless a process holds its lock.

    A task that linked the entry keeps its data: only the cache's names go.

    Returns:
        Whether it was removed.
    """
    fd = _lock(root / f"{key}{LOCK}", blocking=False)
    if fd is None:
        return False
    try:
        for path in root.glob(f"{key}{PART}*"):
            path.unlink(missing_ok=True)
        (root / f"{key}{DATA}").unlink(missing_ok=True)
        (root / f"{key}{LOCK}").unlink(missing_ok=True)  # waiters notice: see _lock
    finally:
        os.close(fd)
    return True


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block (waiting for it)."""
    fd = _lock(path, blocking=True)
    assert fd is not None  # a blocking lock is always taken
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock(path: Path, *, blocking: bool) -> int | None:
    """A descriptor holding ``flock(LOCK_EX)`` on ``path``; None when busy and not blocking.

    Eviction removes an entry's lock file while holding it; a process that waited on that
    file then holds a lock on a file no longer at ``path``, which guards nothing, so it
    takes the lock again on the file now there.
    """
    mode = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            return fd
        os.close(fd)


def _still_at(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _holds(data: Path, size: int) -> bool:
    try:
        return data.stat().st_size == size
    except FileNotFoundError:
        return False


def _fill(data: Path, size: int, fill: Callable[[Path], None]) -> None:
    """Fill entry ``data`` with ``fill``: into a part file, renamed into place when whole."""
    part = data.with_suffix(PART)
    part.unlink(missing_ok=True)
    try:
        fill(part)
        got = part.stat().st_size
        if got != size:
            raise StorageUnavailable(
                f"the input changed while it was read: {got} bytes where {size} were announced"
            )
        part.chmod(0o444)  # FFmpeg only reads; nothing may write through a task's link
        os.replace(part, data)
        _touch(data)
    finally:
        part.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    """Mark ``path`` used now (its mtime, which eviction reads as the last use)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _link_or_copy(src: Path, dest: Path) -> None:
    """``dest`` as a hard link of ``src``; a copy where a link cannot be made."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # another filesystem (EXDEV) or one without hard links
        shutil.copyfile(src, dest)
