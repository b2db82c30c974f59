"""The storage contract: the same cases on LocalStorage and on S3Storage against a real
SeaweedFS (STYLE item 22), plus S3 error translation against real failures.

``seaweed`` is the session fixture of ``tests/e2e/conftest.py`` (``tests.servers.seaweed``).
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings, SettingsError
from shared.errors import InputMissing, InvalidJob, StorageUnavailable
from shared.retry import RetryingStorage, StorageGaveUp
from shared.storage import (
    LocalStorage,
    S3Storage,
    Storage,
    StorageRef,
    make_storage,
)
from tests.servers.ports import free_port
from tests.servers.seaweed import SeaweedInfo

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def s3_storage(info: SeaweedInfo, **kwargs) -> S3Storage:
    return S3Storage(info.endpoint, info.access_key, info.secret_key, info.region, **kwargs)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    return s3_storage(request.getfixturevalue("seaweed"))


@pytest.fixture
def bucket(storage: Storage) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    storage.ensure_bucket(name)
    return name


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Above the 8 MiB threshold, and not a whole number of 8 MiB parts.
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(os.urandom(20 * MIB + 12345))
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def obj(bucket: str, key: str) -> StorageRef:
    return StorageRef("object", bucket=bucket, key=key)


# --- the contract, on both backends ----------------------------------------------------


def test_round_trip(storage: Storage, bucket: str, tmp_path: Path) -> None:
    storage.ensure_bucket(bucket)  # a second call is harmless
    ref = obj(bucket, "in/deep/er/clip.mp4")
    data = os.urandom(100_000)
    storage.upload(write(tmp_path / "src", data), ref)
    assert storage.exists(ref)
    assert storage.size(ref) == len(data)
    storage.download(ref, tmp_path / "out" / "dl.mp4")
    assert (tmp_path / "out" / "dl.mp4").read_bytes() == data


def test_read_range(storage: Storage, bucket: str, tmp_path: Path) -> None:
    ref = obj(bucket, "ranges/clip.mp4")
    data = os.urandom(600_000)  # more than one piece
    storage.upload(write(tmp_path / "src", data), ref)
    for start, stop in ((0, len(data)), (1000, 2000), (599_999, 600_000), (5, 5)):
        assert b"".join(storage.read_range(ref, start, stop)) == data[start:stop]
    assert b"".join(RetryingStorage(storage, 0).read_range(ref, 10, 20)) == data[10:20]
    with pytest.raises(InputMissing):
        storage.read_range(obj(bucket, "ranges/none.mp4"), 0, 10)


def test_upload_replaces(storage: Storage, bucket: str, tmp_path: Path) -> None:
    ref = obj(bucket, "out.mp4")
    storage.upload(write(tmp_path / "a", b"first version"), ref)
    storage.upload(write(tmp_path / "b", b"second"), ref)
    assert storage.size(ref) == len(b"second")
    storage.download(ref, tmp_path / "dl")
    assert (tmp_path / "dl").read_bytes() == b"second"


def test_odd_key_names(storage: Storage, bucket: str, tmp_path: Path) -> None:
    ref = obj(bucket, "视频 1+2%20&x=y.mp4")
    storage.upload(write(tmp_path / "src", b"odd"), ref)
    storage.download(ref, tmp_path / "dl")
    assert (tmp_path / "dl").read_bytes() == b"odd"


def test_identity_names_the_size_and_changes_when_replaced(
    storage: Storage, bucket: str, tmp_path: Path
) -> None:
    ref = obj(bucket, "id/clip.mp4")
    assert storage.identity(ref) is None
    storage.upload(write(tmp_path / "a", b"first version"), ref)
    first = storage.identity(ref)
    assert first is not None and first.size == len(b"first version") and first.tag
    assert storage.identity(ref) == first  # the same while the object is
    storage.upload(write(tmp_path / "b", b"other version"), ref)  # the same size
    second = storage.identity(ref)
    assert second is not None and second.size == first.size and second.tag != first.tag
    assert RetryingStorage(storage, 0).identity(ref) == second
    assert storage.identity(obj("no-such-bucket-here", "a.mp4")) is None


def test_multipart_upload(storage: Storage, bucket: str, big_file: Path, tmp_path: Path) -> None:
    ref = obj(bucket, "big/big.bin")
    storage.upload(big_file, ref)
    assert storage.size(ref) == big_file.stat().st_size
    storage.download(ref, tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == big_file.read_bytes()


def test_delete(storage: Storage, bucket: str, tmp_path: Path) -> None:
    ref = obj(bucket, "gone.mp4")
    storage.upload(write(tmp_path / "src", b"x"), ref)
    storage.delete(ref)
    assert not storage.exists(ref)
    storage.delete(ref)  # missing is fine
    storage.delete(obj("no-such-bucket-here", "a.mp4"))


def test_missing(storage: Storage, bucket: str, tmp_path: Path) -> None:
    for ref in (obj(bucket, "nope.mp4"), obj("no-such-bucket-here", "a.mp4")):
        assert storage.size(ref) is None
        assert not storage.exists(ref)
        with pytest.raises(InputMissing) as exc_info:
            storage.download(ref, tmp_path / "dl")
        assert exc_info.value.code == "InvalidParameter.ResourceNotFound"
        assert ref.key in exc_info.value.message
    assert not (tmp_path / "dl").exists()


def test_local_path(storage: Storage, bucket: str, tmp_path: Path) -> None:
    ref = obj(bucket, "in/src.mp4")
    storage.upload(write(tmp_path / "src", b"media bytes"), ref)
    path = storage.local_path(ref)
    if isinstance(storage, S3Storage):
        assert path is None  # remote: a worker downloads it (workers.inputs)
    else:
        assert path.is_absolute() and path.read_bytes() == b"media bytes"


def test_public_url(storage: Storage, bucket: str) -> None:
    url = storage.public_url(obj(bucket, "a b/c.mp4"))
    if isinstance(storage, S3Storage):
        assert url == f"{storage.endpoint}/{bucket}/a%20b/c.mp4"
    else:
        assert url.startswith("file:///") and url.endswith(f"/{bucket}/a%20b/c.mp4")


def test_file_refs_are_local_paths(storage: Storage, tmp_path: Path) -> None:
    ref = StorageRef("file", path=str(tmp_path / "files" / "sub" / "a.mp4"))
    storage.upload(write(tmp_path / "src", b"local"), ref)
    assert storage.size(ref) == 5
    assert storage.identity(ref).size == 5
    assert storage.local_path(ref) == Path(ref.path)
    assert storage.public_url(ref) == Path(ref.path).as_uri()
    storage.delete(ref)
    assert not storage.exists(ref)


def test_http_refs(storage: Storage, tmp_path: Path) -> None:
    url = StorageRef("http", url="http://127.0.0.1:9/a.mp4")
    assert storage.local_path(url) is None
    with pytest.raises(InvalidJob):
        storage.upload(write(tmp_path / "src", b"x"), url)
    with pytest.raises(InvalidJob):
        storage.identity(url)


def test_ensure_bucket_checks_the_name(storage: Storage) -> None:
    with pytest.raises(InvalidJob):
        storage.ensure_bucket("Bad_Bucket")


# --- backend specifics ------------------------------------------------------------------


def test_local_upload_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    storage.upload(write(tmp_path / "src", b"x"), obj("bkt", "out/a.mp4"))
    assert os.listdir(tmp_path / "root" / "bkt" / "out") == ["a.mp4"]


def test_local_refuses_symlink_escape(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    storage.ensure_bucket("bkt")
    (tmp_path / "root" / "bkt" / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidJob):
        storage.upload(write(tmp_path / "src", b"x"), obj("bkt", "link/evil.mp4"))
    with pytest.raises(InvalidJob):
        storage.size(obj("bkt", "../escape"))


def test_s3_wrong_secret_is_forbidden(seaweed: SeaweedInfo) -> None:
    storage = S3Storage(seaweed.endpoint, seaweed.access_key, "wrong", seaweed.region)
    with pytest.raises(InvalidJob) as exc_info:
        storage.size(obj("any-bucket", "a.mp4"))
    assert exc_info.value.code == "Forbidden"


def test_s3_dead_endpoint_is_unavailable(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    storage = S3Storage(dead, "k", "s", connect_timeout=1, max_attempts=1)
    with pytest.raises(StorageUnavailable):
        storage.size(obj("bkt", "a.mp4"))
    with pytest.raises(StorageUnavailable):
        storage.upload(write(tmp_path / "src", b"x"), obj("bkt", "a.mp4"))
    with pytest.raises(StorageUnavailable):
        storage.download(obj("bkt", "a.mp4"), tmp_path / "dl")
    with pytest.raises(StorageUnavailable):
        storage.identity(obj("bkt", "a.mp4"))
    with pytest.raises(StorageGaveUp):
        RetryingStorage(storage, 0).identity(obj("bkt", "a.mp4"))


class _SlowDown(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that always asks the client to back off."""

    protocol_version = "HTTP/1.1"  # answers "Expect: 100-continue" at once
    body = (
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    )

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def throttling_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowDown)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_s3_throttling_is_unavailable(throttling_endpoint: str, tmp_path: Path) -> None:
    storage = S3Storage(throttling_endpoint, "k", "s", max_attempts=1)
    with pytest.raises(StorageUnavailable):
        storage.size(obj("bkt", "a.mp4"))
    with pytest.raises(StorageUnavailable):
        storage.upload(write(tmp_path / "src", b"x"), obj("bkt", "a.mp4"))


def test_make_storage(tmp_path: Path) -> None:
    local = make_storage(Settings(storage_root=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path.resolve()
    settings = Settings(s3_endpoint="http://127.0.0.1:1/", s3_access_key_id="k")
    with pytest.raises(SettingsError):
        make_storage(settings)
    s3 = make_storage(dataclasses.replace(settings, s3_secret_access_key="s"))
    assert isinstance(s3, S3Storage) and s3.endpoint == "http://127.0.0.1:1"
