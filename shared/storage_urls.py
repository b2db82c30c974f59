"""Storage URLs: parsing the ``Media`` strings of a job into ``StorageRef`` values, and the
SSRF policy for plain HTTP inputs.

Pure and socket-free except ``resolve_host``, the resolver ``pin_http_input`` and
``check_http_input`` use unless one is injected. The forms are the table in DESIGN.md
"Storage URLs"; the confinement rules are its "Security rules".
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from shared.errors import InvalidJob, StorageUnavailable

if TYPE_CHECKING:
    from shared.config import Settings

RefKind = Literal["object", "file", "http"]

# S3's rules (which OSS's are a subset of): 3-63 chars of a-z 0-9 . -, alphanumeric at both
# ends. https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# OSS virtual-host style, public and "-internal" (VPC) endpoints, as in the ICE examples.
# https://www.alibabacloud.com/help/en/oss/user-guide/regions-and-endpoints
_OSS_HOST_RE = re.compile(r"(?P<bucket>.+?)\.oss-(?P<region>[a-z0-9-]+)\.aliyuncs\.com")
# C0 controls and DEL: never part of a sane name, and a CR/LF in a URL handed to FFmpeg could
# smuggle HTTP headers.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_KEY_BYTES = 1024  # S3 and OSS both cap object keys at 1024 bytes of UTF-8.


@dataclass(frozen=True)
class StorageRef:
    """Where a job's input or output lives, after parsing and validation.

    Attributes:
        kind: ``object`` (a key in a bucket), ``file`` (a local path) or ``http`` (input URL).
        bucket: the bucket of an object.
        key: the object key (never starts with ``/``; ends with ``/`` only for a folder base).
        path: the absolute local path of a file.
        url: the URL of an HTTP input.
    """

    kind: RefKind
    bucket: str = ""
    key: str = ""
    path: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("object", "file", "http"):
            raise ValueError(f"unknown StorageRef kind {self.kind!r}")

    @property
    def display(self) -> str:
        """A readable form for logs and messages; never shows an HTTP query or credentials."""
        if self.kind == "object":
            return f"oss://{self.bucket}/{self.key}"
        if self.kind == "file":
            return f"file://{self.path}"
        # Queries may carry signatures (a presigned URL) and userinfo a password: keep them
        # out of logs and job records.
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{host}{parts.path}{query}"

    def __str__(self) -> str:
        return self.display


def _invalid(field: str, why: str) -> InvalidJob:
    """The one error shape for a bad storage URL: it names the field and what is wrong."""
    return InvalidJob(f'The specified parameter "{field}" is not valid: {why}.')


def parse_storage_url(
    url: str,
    *,
    settings: Settings,
    for_output: bool = False,
    field: str = "Media",
    folder: bool = False,
) -> StorageRef:
    """Parse and validate one ``Media`` URL.

    Args:
        url: ``oss://b/k``, ``s3://b/k``, ``http(s)://b.oss-REGION[-internal].aliyuncs.com/k``,
            ``file:///abs/path`` or, for inputs only, any other ``http(s)://`` URL.
        settings: read for ``allow_file_urls``.
        for_output: the URL names something mcfarm will write; plain HTTP is refused.
        field: the wire name of the field, used in error messages
            (e.g. ``Inputs[0].InputFile.Media``).
        folder: the URL is an ``OutputFileBase``: the key may be empty or end with ``/``.

    Returns:
        The validated reference.

    Raises:
        InvalidJob: the URL is malformed, uses an unknown or disabled scheme, or names
            something outside its bucket or folder.
    """
    if not isinstance(url, str) or not url:
        raise _invalid(field, "the URL is empty")
    if _CONTROL_RE.search(url):
        raise _invalid(field, "the URL contains control characters")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _invalid(field, "expected a URL such as oss://bucket/key")
    if scheme in ("oss", "s3"):
        # Taken literally, not percent-decoded: ICE examples use raw keys such as
        # "oss://b/视频 1+2.mp4", where '+' and '%' are part of the name.
        bucket, _, key = rest.partition("/")
        return _object_ref(bucket, key, field, folder)
    if scheme == "file":
        return _file_ref(rest, settings, field, folder)
    if scheme in ("http", "https"):
        return _http_ref(url, field, for_output, folder)
    raise _invalid(field, f"the scheme {scheme!r} is not supported (use oss://, s3:// or https://)")


def _object_ref(bucket: str, key: str, field: str, folder: bool) -> StorageRef:
    check_bucket(bucket, field)
    if folder:
        if key:
            _check_key(key.rstrip("/"), field)
    else:
        _check_key(key, field)
    return StorageRef("object", bucket=bucket, key=key)


def check_bucket(bucket: str, field: str = "Bucket") -> None:
    """Raise InvalidJob naming ``field`` unless ``bucket`` is a valid S3/OSS bucket name."""
    if not bucket:
        raise _invalid(field, "the bucket name is empty")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise _invalid(
            field,
            f"bucket name {bucket!r} must be 3-63 lowercase letters, digits, '-' or '.'",
        )


def _check_key(key: str, field: str) -> None:
    """Reject keys that could alias or escape: LocalStorage maps them onto a real folder."""
    if not key:
        raise _invalid(field, "the object key is empty")
    if key.endswith("/"):
        raise _invalid(field, "the object key ends with '/' (that names a folder)")
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise _invalid(field, f"the object key is longer than {_MAX_KEY_BYTES} bytes")
    _check_relative(key, field, "the object key")
    # '.' and empty segments are distinct keys on S3 but the same path on disk; refusing
    # them keeps both backends naming the same thing.
    if any(part in ("", ".") for part in key.split("/")):
        raise _invalid(field, "the object key has an empty or '.' path segment")


def _check_relative(name: str, field: str, what: str) -> None:
    if _CONTROL_RE.search(name):
        raise _invalid(field, f"{what} contains a NUL or control character")
    if "\\" in name:
        raise _invalid(field, f"{what} contains a backslash")
    if name.startswith("/"):
        raise _invalid(field, f"{what} starts with '/'")
    if ".." in name.split("/"):
        raise _invalid(field, f"{what} contains a '..' segment")


def _file_ref(rest: str, settings: Settings, field: str, folder: bool) -> StorageRef:
    if not settings.allow_file_urls:
        raise _invalid(field, "file:// URLs are disabled on this farm")
    host, slash, tail = rest.partition("/")
    if host not in ("", "localhost") or not slash:
        raise _invalid(field, "expected file:///absolute/path")
    # RFC 8089: file URLs are percent-encoded; decode before checking, so that %2e%2e or
    # %00 cannot slip past the checks.
    path = "/" + unquote(tail)
    _check_path(path, field, folder)
    return StorageRef("file", path=path)


def _check_path(path: str, field: str, folder: bool) -> None:
    if path == "/" or (path.endswith("/") and not folder):
        raise _invalid(field, "the path names a folder, not a file")
    _check_relative(path[1:], field, "the path")


def _http_ref(url: str, field: str, for_output: bool, folder: bool) -> StorageRef:
    parts = _split(url, field)
    match = _OSS_HOST_RE.fullmatch(parts.hostname or "")
    if match:
        if parts.query or parts.fragment:
            raise _invalid(field, "OSS URLs may not carry a query (do not use a signed URL)")
        if parts.username is not None or parts.password is not None:
            raise _invalid(field, "the URL may not contain credentials")
        # Keys in URLs are percent-encoded; unquote (not unquote_plus): '+' is literal.
        key = unquote(parts.path[1:])
        return _object_ref(match["bucket"], key, field, folder)
    if for_output:
        raise _invalid(field, "outputs must be oss://, s3:// or OSS URLs; HTTP URLs are input only")
    return StorageRef("http", url=url)


def _split(url: str, field: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise _invalid(field, f"the URL is malformed ({exc})") from None
    if not parts.hostname:
        raise _invalid(field, "the URL has no host")
    return parts


def join_output(base: StorageRef, name: str, field: str) -> StorageRef:
    """Join an ``OutputFileBase`` and an ``OutputFileName`` (reference: "{Base}/{Name}").

    Args:
        base: the parsed ``OutputFileBase`` (``folder=True``).
        name: the ``OutputFileName``, relative to the base.
        field: the wire name of the name field, for error messages.

    Returns:
        The output's reference, confined to the base.

    Raises:
        InvalidJob: the name is empty, absolute, has ``..``/NUL/backslash, or the base is
            an HTTP URL.
    """
    if not isinstance(name, str) or not name:
        raise _invalid(field, "the output file name is empty")
    _check_relative(name, field, "the output file name")
    if base.kind == "object":
        prefix = base.key.rstrip("/")
        key = f"{prefix}/{name}" if prefix else name
        _check_key(key, field)
        return StorageRef("object", bucket=base.bucket, key=key)
    if base.kind == "file":
        path = f"{base.path.rstrip('/')}/{name}"
        _check_path(path, field, folder=False)
        return StorageRef("file", path=path)
    raise _invalid(field, "an HTTP URL cannot be an output base")


Resolver = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the system resolver's order.

    The one place that asks DNS (``socket.getaddrinfo``); tests inject another resolver.

    Raises:
        socket.gaierror: the resolver's answer when there is none.
        UnicodeError: a name the IDNA codec cannot encode.
    """
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class PinnedHost:
    """An HTTP input's host, resolved once: the worker connects to these addresses only.

    Attributes:
        host: the URL's host name, lower case (what TLS verifies and ``Host`` names).
        port: the URL's port, or the scheme's default.
        addresses: the resolver's answer, in its order, without repeats; every one passed
            the address check unless that check was skipped (see ``pin_http_input``).
    """

    host: str
    port: int
    addresses: tuple[str, ...]


def pin_http_input(
    url: str,
    *,
    allow_private: bool,
    field: str = "InputFile.Media",
    trusted: Collection[str] = (),
    resolve: Resolver = resolve_host,
) -> PinnedHost:
    """Apply the SSRF policy to an HTTP input and return the addresses it may be read from.

    The host is resolved once, here. A worker that connects only to the returned addresses
    cannot be sent elsewhere by a second, different answer for the same name (DNS
    rebinding): the address checked is the address used.

    Args:
        url: the input URL (or one redirect hop).
        allow_private: ``MCFARM_ALLOW_PRIVATE_INPUTS``; skips the address check only, the
            host is still resolved once and pinned.
        field: the wire name of the field, for error messages.
        trusted: ``MCFARM_TRUSTED_INPUT_HOSTS``: ``host`` or ``host:port`` entries (lower
            case) that may be private, e.g. the operator's own origin server; only an exact
            match counts, so a redirect from one to anywhere else is checked again. Like
            ``allow_private``, it skips the address check only.
        resolve: the resolver (``resolve_host`` unless a test injects one).

    Returns:
        The host, its port and its checked addresses.

    Raises:
        InvalidJob: wrong scheme, credentials in the URL, an unknown host, or a host with a
            non-public address.
        StorageUnavailable: the resolver failed temporarily.
    """
    parts = _http_input_parts(url, field)
    host, port = parts.hostname or "", _port(parts)
    addresses = _resolve(resolve, host, port, field)
    if not (allow_private or _is_trusted(parts, trusted)):
        _check_public(host, addresses, field)
    return PinnedHost(host, port, addresses)


def check_http_input(
    url: str,
    *,
    allow_private: bool,
    trusted: Collection[str] = (),
    field: str = "InputFile.Media",
    resolve: Resolver = resolve_host,
) -> None:
    """Refuse early (at submit) an HTTP URL that ``pin_http_input`` would refuse.

    The same policy, without the addresses: the host is resolved only when the address
    check applies. Whoever then connects must pin its own resolution with
    ``pin_http_input`` (workers do); this answer alone does not stop a rebinding name.

    Args:
        url: the input URL.
        allow_private: skip the address check (see ``pin_http_input``).
        field: the wire name of the field, for error messages.
        trusted: hosts that may be private (see ``pin_http_input``).
        resolve: the resolver (``resolve_host`` unless a test injects one).

    Raises:
        InvalidJob: as ``pin_http_input``.
        StorageUnavailable: the resolver failed temporarily.
    """
    parts = _http_input_parts(url, field)
    if allow_private or _is_trusted(parts, trusted):
        return
    host = parts.hostname or ""
    _check_public(host, _resolve(resolve, host, _port(parts), field), field)


def _http_input_parts(url: str, field: str) -> SplitResult:
    parts = _split(url, field)
    if parts.scheme.lower() not in ("http", "https"):
        raise _invalid(field, "only http:// and https:// inputs can be read over the network")
    if parts.username is not None or parts.password is not None:
        raise _invalid(field, "the URL may not contain credentials")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _is_trusted(parts: SplitResult, trusted: Collection[str]) -> bool:
    host = parts.hostname or ""
    return host in trusted or f"{host}:{_port(parts)}" in trusted


def _resolve(resolve: Resolver, host: str, port: int, field: str) -> tuple[str, ...]:
    try:
        addresses = tuple(dict.fromkeys(resolve(host, port)))
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise StorageUnavailable(f"Could not resolve {host!r} just now: {exc}") from None
        raise _invalid(field, f"the host {host!r} cannot be resolved") from None
    except UnicodeError:
        # The IDNA codec refuses empty or over-long labels and lone surrogates: no such host.
        raise _invalid(field, f"the host {host!r} is not a valid host name") from None
    if not addresses:
        raise _invalid(field, f"the host {host!r} cannot be resolved")
    return addresses


def _check_public(host: str, addresses: Sequence[str], field: str) -> None:
    """Refuse ``host`` if any of its addresses is not public: a client may connect to any."""
    for address in addresses:
        if not _is_public(address):
            raise _invalid(field, f"the host {host!r} resolves to the non-public address {address}")


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Catches what the flags above miss, e.g. 100.64.0.0/10 (carrier-grade NAT).
        or not ip.is_global
    )
