"""workers.input_cache: which entries eviction drops, and the cache itself, run for real on
files in ``tmp_path`` (real locks, real links, real processes where it matters)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import InputMissing, StorageUnavailable
from shared.storage import Identity
from workers import input_cache
from workers.input_cache import (
    CACHE_LOCK,
    Counters,
    Entry,
    InputCache,
    choose_evictions,
    entry_key,
)

ROOT = Path(__file__).resolve().parents[3]
SOURCE = "http://s3.example:8333/media/a.mp4"


@pytest.mark.parametrize(
    ("entries", "cap", "incoming", "evicted"),
    [
        ([], 100, 0, []),
        ([Entry("a", 40, 1), Entry("b", 40, 2)], 100, 0, []),
        ([Entry("a", 40, 1), Entry("b", 40, 2)], 100, 20, []),  # exactly full is fine
        ([Entry("a", 40, 1), Entry("b", 40, 2)], 100, 21, ["a"]),
        ([Entry("b", 40, 2), Entry("a", 40, 1)], 100, 21, ["a"]),  # order given is no matter
        ([Entry("a", 40, 3), Entry("b", 40, 2), Entry("c", 40, 1)], 100, 0, ["c"]),
        ([Entry("a", 40, 1), Entry("b", 40, 2), Entry("c", 40, 3)], 100, 60, ["a", "b"]),
        ([Entry("a", 10, 1), Entry("b", 90, 2)], 100, 95, ["a", "b"]),
        ([Entry("b", 10, 5), Entry("a", 10, 5)], 15, 0, ["a"]),  # a tie goes by key
        ([Entry("a", 200, 1)], 100, 0, ["a"]),  # a lowered cap
        ([Entry("a", 50, 1)], 0, 0, ["a"]),
    ],
)
def test_eviction_drops_least_recently_used_until_it_fits(entries, cap, incoming, evicted):
    assert choose_evictions(entries, cap, incoming) == evicted


def test_the_key_changes_with_the_source_and_its_identity():
    key = entry_key(SOURCE, Identity(10, '"e1"'))
    assert key == entry_key(SOURCE, Identity(10, '"e1"'))
    assert key != entry_key(SOURCE, Identity(10, '"e2"'))  # replaced, same size
    assert key != entry_key(SOURCE, Identity(11, '"e1"'))
    assert key != entry_key(SOURCE + "x", Identity(10, '"e1"'))


def test_counters_add_up_and_read_as_a_log_line():
    total = Counters(hits=1) + Counters(misses=1, bytes_fetched=5) + Counters(evictions=2)
    assert total == Counters(hits=1, misses=1, bytes_fetched=5, evictions=2)
    assert str(total) == "hits=1 misses=1 bytes_fetched=5 evictions=2"


def test_settings_name_the_folder_and_the_cap(tmp_path):
    s = Settings.from_env({"MCFARM_WORK_DIR": str(tmp_path)})
    assert s.input_cache_path == tmp_path / "mcfarm-input-cache"
    assert s.input_cache_bytes == 20 * 1024**3
    s = Settings.from_env(
        {"MCFARM_INPUT_CACHE_DIR": str(tmp_path / "c"), "MCFARM_INPUT_CACHE_BYTES": "0"}
    )
    assert (s.input_cache_path, s.input_cache_bytes) == (tmp_path / "c", 0)
    assert InputCache.for_settings(s) == InputCache(tmp_path / "c", 0)
    assert Settings(work_dir=tmp_path).input_cache_path == tmp_path / "mcfarm-input-cache"


# --- the cache on real files ------------------------------------------------------------


class Origin:
    """Where the bytes come from: ``fill`` writes the current content, counting each call."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.fills: list[Path] = []

    def fill(self, part: Path) -> None:
        self.fills.append(part)
        part.write_bytes(self.content)

    @property
    def identity(self) -> Identity:
        return Identity(len(self.content), f'"{hashlib.sha1(self.content).hexdigest()}"')


@pytest.fixture
def cache(tmp_path) -> InputCache:
    return InputCache(tmp_path / "cache", 1000)


def _fetch(cache: InputCache, origin: Origin, dest: Path, source: str = SOURCE) -> bool:
    return cache.fetch(source, "oss://media/a.mp4", origin.identity, dest, origin.fill)


def test_a_second_read_is_a_hit_on_the_same_bytes(cache, tmp_path, caplog):
    origin = Origin(b"media bytes")
    caplog.set_level("INFO", logger="workers.input_cache")

    assert _fetch(cache, origin, tmp_path / "task1" / "input") is False
    assert _fetch(cache, origin, tmp_path / "task2" / "input") is True

    assert len(origin.fills) == 1
    one, two = tmp_path / "task1" / "input", tmp_path / "task2" / "input"
    assert one.read_bytes() == two.read_bytes() == b"media bytes"
    assert one.stat().st_ino == two.stat().st_ino  # hard links of the entry: no second copy
    assert cache.counters() == Counters(hits=1, misses=1, bytes_fetched=11)
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "input cache: fetched oss://media/a.mp4 (11 bytes)",
        "input cache: hit oss://media/a.mp4 (11 bytes)",
    ]
    assert one.stat().st_mode & 0o222 == 0  # read-only: nothing writes through a task's link


def test_a_replaced_object_is_fetched_again(cache, tmp_path):
    origin = Origin(b"first version")
    _fetch(cache, origin, tmp_path / "t1")
    origin.content = b"second version"

    assert _fetch(cache, origin, tmp_path / "t2") is False
    assert _fetch(cache, origin, tmp_path / "t3") is True

    assert len(origin.fills) == 2
    assert (tmp_path / "t1").read_bytes() == b"first version"
    assert (tmp_path / "t2").read_bytes() == (tmp_path / "t3").read_bytes() == b"second version"


def test_the_cap_evicts_the_least_recently_used_and_a_task_keeps_its_copy(cache, tmp_path):
    a, b, c = Origin(b"a" * 400), Origin(b"b" * 400), Origin(b"c" * 400)
    _fetch(cache, a, tmp_path / "a1", "s3://a")
    _fetch(cache, b, tmp_path / "b1", "s3://b")
    _fetch(cache, a, tmp_path / "a2", "s3://a")  # a is now the more recently used

    _fetch(cache, c, tmp_path / "c1", "s3://c")  # 1200 > 1000: one must go, b

    assert _fetch(cache, a, tmp_path / "a3", "s3://a") is True
    assert _fetch(cache, b, tmp_path / "b2", "s3://b") is False  # gone: fetched again
    assert (tmp_path / "b1").read_bytes() == b"b" * 400  # the task's link outlived the entry
    assert cache.counters().evictions == 2  # b's refill pushed out c, the oldest then
    held = sum(p.stat().st_size for p in cache.root.glob("*.data"))
    assert held <= cache.cap


@pytest.mark.parametrize(
    ("cap", "identity"),
    [
        (0, Identity(10, '"e"')),  # the cache is off
        (1000, Identity(1001, '"e"')),  # larger than the whole cache
        (1000, Identity(10, "")),  # nothing would tell a replaced object
    ],
)
def test_inputs_the_cache_cannot_take_go_straight_to_the_task(tmp_path, cap, identity):
    cache = InputCache(tmp_path / "cache", cap)
    dest = tmp_path / "task" / "input"
    filled = []

    assert cache.fetch(SOURCE, "x", identity, dest, filled.append) is False
    assert cache.fetch(SOURCE, "x", identity, dest, filled.append) is False

    assert filled == [dest, dest]
    assert not cache.root.exists()


def test_a_failed_fill_caches_nothing_and_the_next_read_fills_again(cache, tmp_path):
    def missing(part: Path) -> None:
        part.write_bytes(b"half")
        raise InputMissing("gone")

    with pytest.raises(InputMissing):
        cache.fetch(SOURCE, "x", Identity(10, '"e"'), tmp_path / "t1", missing)
    origin = Origin(b"0123456789")
    assert _fetch(cache, origin, tmp_path / "t2") is False
    assert (tmp_path / "t2").read_bytes() == b"0123456789"
    assert not (tmp_path / "t1").exists()
    # The failed key's lock file went with the second fill's eviction pass.
    key = entry_key(SOURCE, origin.identity)
    assert {p.name for p in cache.root.iterdir()} == {
        f"{key}.data",
        f"{key}.lock",
        CACHE_LOCK,
        "stats.json",
    }


def test_bytes_of_another_size_than_announced_are_not_cached(cache, tmp_path):
    with pytest.raises(StorageUnavailable):
        cache.fetch(SOURCE, "x", Identity(10, '"e"'), tmp_path / "t", Origin(b"short").fill)
    assert not any(cache.root.glob("*.data")) and not any(cache.root.glob("*.part*"))


def test_a_dead_downloads_leftovers_go_at_the_next_fill(cache, tmp_path):
    cache.root.mkdir(mode=0o700)
    (cache.root / f"{'f' * 64}.part.1a2b3c").write_bytes(b"x" * 300)
    (cache.root / f"{'e' * 64}.lock").touch()

    _fetch(cache, Origin(b"new"), tmp_path / "t")

    assert sorted(p.name.partition(".")[2] for p in cache.root.iterdir()) == [
        "data",
        "json",
        "lock",
        "lock",  # the new entry's and cache.lock
    ]


def test_another_filesystem_gets_a_copy(cache, tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    _fetch(cache, Origin(b"bytes"), tmp_path / "t1")
    _fetch(cache, Origin(b"bytes"), tmp_path / "t2")
    assert (tmp_path / "t2").read_bytes() == b"bytes" and (tmp_path / "t2").stat().st_nlink == 1
    assert cache.counters().hits == 1


def test_a_folder_others_may_write_to_is_not_used(cache, tmp_path):
    cache.root.mkdir()
    cache.root.chmod(0o777)
    origin = Origin(b"bytes")
    _fetch(cache, origin, tmp_path / "t1")
    _fetch(cache, origin, tmp_path / "t2")
    assert len(origin.fills) == 2 and not any(cache.root.iterdir())


def test_a_lock_file_removed_under_a_waiter_is_taken_again(tmp_path):
    path = tmp_path / "k.lock"
    first = input_cache._lock(path, blocking=True)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(input_cache._lock(path, blocking=True)))
    waiter.start()
    path.unlink()  # what eviction does, holding the lock
    os.close(first)
    waiter.join(10)

    (fd,) = got
    try:
        assert os.fstat(fd).st_ino == path.stat().st_ino  # the lock on the file now there
        assert input_cache._lock(path, blocking=False) is None
    finally:
        os.close(fd)


# A process of the worker: it asks for one input once ``marks`` says all have started.
CHILD = """
import sys, time
from pathlib import Path
from shared.storage import Identity
from workers.input_cache import InputCache

root, dest, marks, n = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
(marks / f"started-{dest.name}").touch()

def fill(part):
    with (marks / "fills").open("a") as log:
        log.write(dest.name + "\\n")
    deadline = time.monotonic() + 10
    while len(list(marks.glob("started-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)  # the others are started and queue on the entry's lock
    part.write_bytes(b"x" * 5000)

hit = InputCache(root, 10**6).fetch("s3://b/k", "oss://b/k", Identity(5000, '"e"'), dest, fill)
print("hit" if hit else "fetched")
"""


def test_processes_asking_at_once_download_once(tmp_path):
    marks, n = tmp_path / "marks", 3
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", CHILD, str(tmp_path / "cache")]
    children = [
        subprocess.Popen(
            [*argv, str(tmp_path / f"t{i}"), str(marks), str(n)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    said = sorted(child.communicate(timeout=60)[0].strip() for child in children)

    assert [child.returncode for child in children] == [0] * n
    assert said == ["fetched"] + ["hit"] * (n - 1)
    assert len((marks / "fills").read_text().split()) == 1
    assert all((tmp_path / f"t{i}").read_bytes() == b"x" * 5000 for i in range(n))
    stats = json.loads((tmp_path / "cache" / "stats.json").read_text())
    assert stats == {"hits": n - 1, "misses": 1, "bytes_fetched": 5000, "evictions": 0}
    assert (tmp_path / "cache" / CACHE_LOCK).exists()
