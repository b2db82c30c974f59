"""Storage adapters: where inputs are read from and outputs written to.

``LocalStorage`` keeps buckets as folders under one root; ``S3Storage`` talks to any
S3-compatible endpoint (SeaweedFS, MinIO, Ceph RGW, AWS, OSS's S3 endpoint). Both honour one
``Storage`` protocol, checked by the same contract test. This is the only module that imports
boto3/botocore; vendor errors are translated here into ``shared.errors`` types.

URL parsing and the SSRF policy live in ``shared.storage_urls`` and are re-exported here.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import boto3
import botocore.config
import botocore.exceptions
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig

from shared.config import SettingsError
from shared.errors import InputMissing, InvalidJob, StorageUnavailable, TranscodeError
from shared.storage_urls import (
    StorageRef,
    check_bucket,
    check_http_input,
    join_output,
    parse_storage_url,
)

if TYPE_CHECKING:
    from shared.config import Settings

__all__ = [
    "Identity",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageRef",
    "check_bucket",
    "check_http_input",
    "join_output",
    "make_storage",
    "parse_storage_url",
]

_MIB = 1024 * 1024
_READ_PIECE = 256 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_BUSY = {"SlowDown", "Throttling", "RequestTimeout", "ServiceUnavailable", "InternalError"}


@dataclass(frozen=True)
class Identity:
    """What a stored object is now: its size, and a tag that changes when it is replaced.

    Attributes:
        size: bytes.
        tag: the S3 ETag; for a local file, its inode and mtime in nanoseconds. Two reads
            with equal identities saw the same bytes (a cache may serve one for the other).
            Empty when the store gives no ETag: then nothing says that it changed.
    """

    size: int
    tag: str


class Storage(Protocol):
    """What workers need from a storage backend (see the contract test)."""

    #: Whether an object (``oss://``, ``s3://``) is reached over the network, not a local file.
    remote_objects: bool

    def exists(self, ref: StorageRef) -> bool:
        """Whether the object or file exists."""

    def size(self, ref: StorageRef) -> int | None:
        """Its size in bytes, or None when it does not exist."""

    def identity(self, ref: StorageRef) -> Identity | None:
        """Its size and version tag (S3: HeadObject), or None when it does not exist."""

    def download(self, ref: StorageRef, dest: Path) -> None:
        """Copy it to ``dest``; raises InputMissing if absent."""

    def upload(self, src: Path, ref: StorageRef) -> None:
        """Store ``src`` at ``ref``, replacing what was there, never half-written."""

    def delete(self, ref: StorageRef) -> None:
        """Remove it; a missing object is not an error."""

    def public_url(self, ref: StorageRef) -> str:
        """A URL naming it (file:// locally, endpoint/bucket/key on S3); not signed."""

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket when it does not exist."""

    def read_range(self, ref: StorageRef, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``stop`` (exclusive) of it, in pieces; raises InputMissing
        if absent. The console streams previews with it (HTTP range requests)."""

    def local_path(self, ref: StorageRef) -> Path | None:
        """The file on this machine's disk holding ``ref``, or None when it is remote.

        There is deliberately no "URL FFmpeg can read": workers fetch remote inputs
        themselves (``workers.inputs``) and FFmpeg only ever opens local files."""


# --- local files (LocalStorage objects, and file:// refs on every backend) --------------


def _missing(ref: StorageRef) -> InputMissing:
    return InputMissing(f'The resource operated "{ref}" cannot be found.')


def _file_identity(path: Path) -> Identity | None:
    try:
        st = path.stat()
    except OSError:
        return None
    # Only a regular file is an object. An upload replaces a file by renaming a new one
    # over it: a new inode, a new mtime.
    return Identity(st.st_size, f"{st.st_ino}-{st.st_mtime_ns}") if S_ISREG(st.st_mode) else None


def _file_download(path: Path, dest: Path, ref: StorageRef) -> None:
    if not path.is_file():
        raise _missing(ref)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)


def _file_read(path: Path, start: int, stop: int, ref: StorageRef) -> Iterator[bytes]:
    if not path.is_file():
        raise _missing(ref)
    handle = path.open("rb")  # opened now, so a missing file fails before the first byte

    def pieces() -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            left = stop - start
            while left > 0 and (piece := handle.read(min(left, _READ_PIECE))):
                left -= len(piece)
                yield piece

    return pieces()


def _file_upload(src: Path, path: Path) -> None:
    # Write beside the target then rename: readers (and a re-delivered task checking for the
    # output) never see a half-written file; os.replace is atomic within one filesystem.
    # (Not mkstemp: its 0600 mode would stick to the output; copyfile honours the umask.)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _BaseStorage:
    """Shared dispatch: http refs and file refs; subclasses do objects."""

    def _local_path(self, ref: StorageRef) -> Path | None:
        """The local path of ``ref``, or None when it is not on this machine's disk."""
        if ref.kind == "file":
            return Path(ref.path)
        return None

    def local_path(self, ref: StorageRef) -> Path | None:
        return None if ref.kind == "http" else self._local_path(ref)

    def _not_http(self, ref: StorageRef, action: str) -> None:
        if ref.kind == "http":
            raise InvalidJob(f"Cannot {action} {ref}: HTTP URLs are read-only inputs.")

    def exists(self, ref: StorageRef) -> bool:
        return self.size(ref) is not None

    def size(self, ref: StorageRef) -> int | None:
        found = self.identity(ref)
        return None if found is None else found.size

    def identity(self, ref: StorageRef) -> Identity | None:
        self._not_http(ref, "measure")
        path = self._local_path(ref)
        return _file_identity(path) if path is not None else self._object_identity(ref)

    def download(self, ref: StorageRef, dest: Path) -> None:
        self._not_http(ref, "download")
        path = self._local_path(ref)
        if path is not None:
            _file_download(path, dest, ref)
        else:
            self._object_download(ref, dest)

    def read_range(self, ref: StorageRef, start: int, stop: int) -> Iterator[bytes]:
        self._not_http(ref, "read")
        path = self._local_path(ref)
        if path is not None:
            return _file_read(path, start, stop, ref)
        return self._object_read(ref, start, stop)

    def upload(self, src: Path, ref: StorageRef) -> None:
        self._not_http(ref, "write")
        path = self._local_path(ref)
        if path is not None:
            _file_upload(src, path)
        else:
            self._object_upload(src, ref)

    def delete(self, ref: StorageRef) -> None:
        self._not_http(ref, "delete")
        path = self._local_path(ref)
        if path is not None:
            path.unlink(missing_ok=True)
        else:
            self._object_delete(ref)

    def public_url(self, ref: StorageRef) -> str:
        if ref.kind == "http":
            return ref.url
        path = self._local_path(ref)
        return path.as_uri() if path is not None else self._object_url(ref)

    # Remote objects: only S3Storage has them; LocalStorage maps every object to a path,
    # so these are never reached there.
    def _no_remote(self) -> TypeError:
        return TypeError(f"{type(self).__name__} keeps every object on local disk")

    def _object_identity(self, ref: StorageRef) -> Identity | None:
        raise self._no_remote()

    def _object_download(self, ref: StorageRef, dest: Path) -> None:
        raise self._no_remote()

    def _object_read(self, ref: StorageRef, start: int, stop: int) -> Iterator[bytes]:
        raise self._no_remote()

    def _object_upload(self, src: Path, ref: StorageRef) -> None:
        raise self._no_remote()

    def _object_delete(self, ref: StorageRef) -> None:
        raise self._no_remote()

    def _object_url(self, ref: StorageRef) -> str:
        raise self._no_remote()


class LocalStorage(_BaseStorage):
    """Buckets are folders under ``root``: object ``bucket/key`` is the file ``root/bucket/key``.

    Args:
        root: the storage root (``MCFARM_STORAGE_ROOT``).
    """

    remote_objects = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _local_path(self, ref: StorageRef) -> Path | None:
        if ref.kind != "object":
            return super()._local_path(ref)
        # Keys were validated at parse time; resolving symlinks and checking again defends
        # against a hand-built ref or a link planted in a bucket (the bucket folder may be an
        # operator's link to another disk). On strings: pathlib's objects cost more.
        check_bucket(ref.bucket)
        bucket_dir = os.path.realpath(os.path.join(self.root, ref.bucket))
        path = os.path.realpath(os.path.join(bucket_dir, ref.key))
        if not path.startswith(bucket_dir + os.sep):
            raise InvalidJob(f"The object {ref} resolves outside its bucket.")
        return Path(path)

    def ensure_bucket(self, bucket: str) -> None:
        check_bucket(bucket)
        (self.root / bucket).mkdir(parents=True, exist_ok=True)


class S3Storage(_BaseStorage):
    """Objects on an S3-compatible endpoint, addressed path-style.

    Args:
        endpoint: the endpoint URL, e.g. ``http://127.0.0.1:8333``.
        access_key_id: the S3 access key.
        secret_access_key: the S3 secret key.
        region: the signing region.
        connect_timeout: seconds to wait for a TCP connection.
        read_timeout: seconds to wait for a response.
        max_attempts: botocore's total attempts per request (retries on 5xx/throttling).
    """

    remote_objects = True

    def __init__(
        self,
        endpoint: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str = "us-east-1",
        *,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        max_attempts: int = 3,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        # Path style: SeaweedFS/MinIO have no wildcard DNS for bucket.host names.
        config = botocore.config.Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        # A session per adapter: clients are thread-safe, the default session is not.
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=config,
        )
        self._transfer = TransferConfig(multipart_threshold=8 * _MIB, multipart_chunksize=8 * _MIB)

    def _object_identity(self, ref: StorageRef) -> Identity | None:
        try:
            with _translated(ref):
                head = self._client.head_object(Bucket=ref.bucket, Key=ref.key)
        except InputMissing:
            return None
        return Identity(int(head["ContentLength"]), str(head.get("ETag", "")))

    def _object_download(self, ref: StorageRef, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _translated(ref):
            # download_file writes to a temporary name and renames it when complete.
            self._client.download_file(ref.bucket, ref.key, str(dest), Config=self._transfer)

    def _object_read(self, ref: StorageRef, start: int, stop: int) -> Iterator[bytes]:
        if stop <= start:
            return iter(())
        with _translated(ref):
            got = self._client.get_object(
                Bucket=ref.bucket, Key=ref.key, Range=f"bytes={start}-{stop - 1}"
            )
        return got["Body"].iter_chunks(_READ_PIECE)

    def _object_upload(self, src: Path, ref: StorageRef) -> None:
        # Multipart above 8 MiB: parts are retried alone, and an object only appears once
        # CompleteMultipartUpload succeeds, so readers never see half an output.
        with _translated(ref):
            self._client.upload_file(str(src), ref.bucket, ref.key, Config=self._transfer)

    def _object_delete(self, ref: StorageRef) -> None:
        # Deleting what is not there (even its bucket) reaches the wanted end state.
        with _translated(ref, ok=_NOT_FOUND):
            self._client.delete_object(Bucket=ref.bucket, Key=ref.key)

    def _object_url(self, ref: StorageRef) -> str:
        return f"{self.endpoint}/{ref.bucket}/{quote(ref.key, safe='/')}"

    def ensure_bucket(self, bucket: str) -> None:
        check_bucket(bucket)
        ref = StorageRef("object", bucket=bucket)
        try:
            with _translated(ref):
                self._client.head_bucket(Bucket=bucket)
            return
        except InputMissing:
            pass
        extra = {}
        if self.region != "us-east-1":  # AWS rejects an explicit us-east-1 constraint
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        # "Already owned": another process created it between our HEAD and CREATE.
        with _translated(ref, ok={"BucketAlreadyOwnedByYou"}):
            self._client.create_bucket(Bucket=bucket, **extra)


@contextmanager
def _translated(ref: StorageRef, ok: Collection[str] = ()) -> Iterator[None]:
    """Turn botocore/boto3 errors into ``shared.errors`` (STYLE item 10).

    Args:
        ref: what was being accessed, named in the messages.
        ok: S3 error codes that mean the operation's goal is already met; swallowed.
    """
    try:
        yield
    except S3UploadFailedError as exc:
        # boto3 wraps the ClientError of a failed upload; the original is the context.
        cause = exc.__context__
        if isinstance(cause, botocore.exceptions.ClientError):
            raise _from_client_error(cause, ref) from None
        raise StorageUnavailable(f"Upload of {ref} failed: {exc}") from None
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ok:
            raise _from_client_error(exc, ref) from None
    except botocore.exceptions.ParamValidationError as exc:
        raise InvalidJob(f"Invalid request for {ref}: {exc}") from None
    except (botocore.exceptions.BotoCoreError, RetriesExceededError) as exc:
        # Connection refused/reset, timeouts, DNS: the network, not the job, is at fault.
        raise StorageUnavailable(f"Object storage unreachable for {ref}: {exc}") from None


def _from_client_error(exc: botocore.exceptions.ClientError, ref: StorageRef) -> TranscodeError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _NOT_FOUND or status == 404:
        return _missing(ref)
    if code in _DENIED or status == 403:
        return InvalidJob(
            f"Object storage denied access to {ref} ({code}).", code="Forbidden", http_status=403
        )
    if code in _BUSY or status >= 500 or status == 429:
        return StorageUnavailable(f"Object storage failed on {ref}: {code} (HTTP {status}).")
    return InvalidJob(f"Object storage refused {ref}: {code} {error.get('Message', '')}".strip())


def make_storage(settings: Settings) -> Storage:
    """The storage backend the settings name: S3 when an endpoint is set, else local folders.

    Raises:
        SettingsError: only one of the S3 access key id and secret is set.
    """
    if settings.s3_endpoint:
        # Both unset is fine (boto3 then uses its own chain: instance roles, ~/.aws).
        if (settings.s3_access_key_id is None) != (settings.s3_secret_access_key is None):
            raise SettingsError(
                "MCFARM_S3_ACCESS_KEY_ID and MCFARM_S3_SECRET_ACCESS_KEY must be set together"
            )
        return S3Storage(
            settings.s3_endpoint,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
            settings.s3_region,
        )
    return LocalStorage(settings.storage_root)
