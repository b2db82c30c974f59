"""Storage URL parsing, output joining and the SSRF policy (no sockets, no DNS)."""

from __future__ import annotations

import socket

import pytest

from shared import storage_urls
from shared.config import Settings
from shared.errors import InvalidJob, StorageUnavailable
from shared.storage import StorageRef, check_http_input, join_output, parse_storage_url
from shared.storage_urls import PinnedHost, pin_http_input

FIELD = "Inputs[0].InputFile.Media"
SETTINGS = Settings(allow_file_urls=True)
NO_FILES = Settings(allow_file_urls=False)


def parse(url: str, **kwargs) -> StorageRef:
    kwargs.setdefault("settings", SETTINGS)
    return parse_storage_url(url, field=FIELD, **kwargs)


def assert_invalid(exc_info: pytest.ExceptionInfo, field: str = FIELD) -> None:
    assert type(exc_info.value) is InvalidJob
    assert exc_info.value.code == "InvalidParameter"
    assert f'"{field}"' in exc_info.value.message


# --- accepted forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "key"),
    [
        ("oss://my-bucket/in/a.mp4", "my-bucket", "in/a.mp4"),
        ("s3://my-bucket/a.mp4", "my-bucket", "a.mp4"),
        ("OSS://my-bucket/a.mp4", "my-bucket", "a.mp4"),
        ("s3://my.bucket.1/deep/er/a.mp4", "my.bucket.1", "deep/er/a.mp4"),
        # oss:// keys are literal: '+', '%' and spaces are part of the name.
        ("oss://bkt/视频 1+2%20.mp4", "bkt", "视频 1+2%20.mp4"),
        ("oss://bkt/a?b#c.mp4", "bkt", "a?b#c.mp4"),
        ("https://my-bucket.oss-cn-shanghai.aliyuncs.com/in/a.mp4", "my-bucket", "in/a.mp4"),
        ("http://my-bucket.oss-cn-hangzhou.aliyuncs.com/a.mp4", "my-bucket", "a.mp4"),
        (
            "https://my-bucket.oss-cn-shanghai-internal.aliyuncs.com/in/a.mp4",
            "my-bucket",
            "in/a.mp4",
        ),
        ("https://bkt.oss-ap-southeast-1.aliyuncs.com/a.mp4", "bkt", "a.mp4"),
        # http forms are percent-decoded; '+' stays a plus.
        ("https://bkt.oss-cn-beijing.aliyuncs.com/%E8%A7%86%20a+b.mp4", "bkt", "视 a+b.mp4"),
    ],
)
def test_object_forms(url: str, bucket: str, key: str) -> None:
    ref = parse(url)
    assert ref == StorageRef("object", bucket=bucket, key=key)
    assert parse(url, for_output=True) == ref


def test_file_url() -> None:
    ref = parse("file:///data/in/a%20b.mp4")
    assert ref == StorageRef("file", path="/data/in/a b.mp4")
    assert parse("file://localhost/data/a.mp4", for_output=True).path == "/data/a.mp4"


def test_other_http_is_an_input() -> None:
    url = "https://cdn.example.com/v/a.mp4?token=secret"
    ref = parse(url)
    assert ref == StorageRef("http", url=url)


def test_display_hides_query_and_credentials() -> None:
    assert str(StorageRef("object", bucket="bkt", key="a/b.mp4")) == "oss://bkt/a/b.mp4"
    assert str(StorageRef("file", path="/x/y.mp4")) == "file:///x/y.mp4"
    shown = StorageRef("http", url="https://u:pw@cdn.example.com/a.mp4?sig=s3cr3t").display
    assert "s3cr3t" not in shown and "pw" not in shown
    assert shown.startswith("https://cdn.example.com/a.mp4")


def test_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        StorageRef("ftp")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("oss://bkt/out/hls/", "out/hls/"),
        ("oss://bkt/", ""),
        ("oss://bkt", ""),
        ("https://bkt.oss-cn-shanghai.aliyuncs.com/out/", "out/"),
        ("https://bkt.oss-cn-shanghai.aliyuncs.com", ""),
    ],
)
def test_folder_bases(url: str, key: str) -> None:
    ref = parse(url, for_output=True, folder=True)
    assert ref == StorageRef("object", bucket="bkt", key=key)


def test_file_folder_base() -> None:
    assert parse("file:///data/out/", folder=True).path == "/data/out/"


# --- rejections ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "oss:/bkt/a.mp4",
        "bkt/a.mp4",
        "ftp://host/a.mp4",
        "gopher://host/a",
        "concat:a.mp4|b.mp4",
        # buckets
        "oss:///a.mp4",
        "oss://ab/a.mp4",
        "oss://" + "b" * 64 + "/a.mp4",
        "oss://My-Bucket/a.mp4",
        "oss://bkt_1/a.mp4",
        "oss://-bkt/a.mp4",
        "oss://bkt-/a.mp4",
        "oss://b..kt/a.mp4",
        "oss://user@bkt/a.mp4",
        "oss://bkt:80/a.mp4",
        # keys
        "oss://bkt",
        "oss://bkt/",
        "oss://bkt/out/",
        "oss://bkt//a.mp4",
        "oss://bkt/../a.mp4",
        "oss://bkt/in/../../a.mp4",
        "oss://bkt/in/..",
        "oss://bkt/./a.mp4",
        "oss://bkt/a//b.mp4",
        "oss://bkt/a\\b.mp4",
        "oss://bkt/a\x00.mp4",
        "oss://bkt/a\n.mp4",
        "oss://bkt/" + "k" * 1025,
        # OSS virtual-host URLs: decoded before checking
        "https://bkt.oss-cn-shanghai.aliyuncs.com/",
        "https://bkt.oss-cn-shanghai.aliyuncs.com/%2e%2e/a.mp4",
        "https://bkt.oss-cn-shanghai.aliyuncs.com/a%00.mp4",
        "https://bkt.oss-cn-shanghai.aliyuncs.com/a%5cb.mp4",
        "https://bkt.oss-cn-shanghai.aliyuncs.com//etc/passwd",
        "https://bkt.oss-cn-shanghai.aliyuncs.com/a.mp4?Signature=x",
        "https://u:p@bkt.oss-cn-shanghai.aliyuncs.com/a.mp4",
        "https://BAD_BUCKET.oss-cn-shanghai.aliyuncs.com/a.mp4",
        # file URLs
        "file://host/data/a.mp4",
        "file://data/a.mp4",
        "file:///",
        "file:///data/",
        "file:///data/../etc/passwd",
        "file:///data/%2e%2e/etc/passwd",
        "file:///data/a%00.mp4",
        "file:///data/a\\b.mp4",
        # plain http
        "https:///a.mp4",
        "http://host:notaport/a.mp4",
    ],
)
def test_rejected(url: str) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        parse(url)
    assert_invalid(exc_info)


@pytest.mark.parametrize("url", ["https://cdn.example.com/a.mp4", "http://10.0.0.1/out.mp4"])
def test_plain_http_is_never_an_output(url: str) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        parse(url, for_output=True)
    assert_invalid(exc_info)


def test_file_urls_can_be_disabled() -> None:
    with pytest.raises(InvalidJob) as exc_info:
        parse("file:///data/a.mp4", settings=NO_FILES)
    assert_invalid(exc_info)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidJob) as exc_info:
        parse(None)  # type: ignore[arg-type]
    assert_invalid(exc_info)


def test_field_defaults_to_media() -> None:
    with pytest.raises(InvalidJob) as exc_info:
        parse_storage_url("ftp://x/y", settings=SETTINGS)
    assert_invalid(exc_info, field="Media")


# --- join_output -----------------------------------------------------------------------

NAME_FIELD = "OutputGroups[0].Outputs[0].OutputFileName"


@pytest.mark.parametrize(
    ("base", "name", "key"),
    [
        ("oss://bkt/out/hls/", "a_720p.mp4", "out/hls/a_720p.mp4"),
        ("oss://bkt/out", "a.mp4", "out/a.mp4"),
        ("oss://bkt/", "a.mp4", "a.mp4"),
        ("oss://bkt/out/", "sub/dir/a.m3u8", "out/sub/dir/a.m3u8"),
    ],
)
def test_join_output_object(base: str, name: str, key: str) -> None:
    joined = join_output(parse(base, folder=True), name, NAME_FIELD)
    assert joined == StorageRef("object", bucket="bkt", key=key)


def test_join_output_file() -> None:
    joined = join_output(parse("file:///data/out/", folder=True), "a.mp4", NAME_FIELD)
    assert joined == StorageRef("file", path="/data/out/a.mp4")


BAD_NAMES = ["", "/a.mp4", "../a.mp4", "x/../../a.mp4", "..", "a\x00.mp4", "a\\b.mp4", "dir/"]


@pytest.mark.parametrize(
    ("base", "name"),
    [("oss://bkt/out/", name) for name in [*BAD_NAMES, "a//b", "./a"]]
    + [("file:///data/out/", name) for name in BAD_NAMES],
)
def test_join_output_rejects(base: str, name: str) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        join_output(parse(base, folder=True), name, NAME_FIELD)
    assert_invalid(exc_info, NAME_FIELD)


def test_join_output_http_base_is_refused() -> None:
    with pytest.raises(InvalidJob) as exc_info:
        join_output(StorageRef("http", url="https://cdn.example.com/"), "a.mp4", NAME_FIELD)
    assert_invalid(exc_info, NAME_FIELD)


# --- check_http_input (SSRF) -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.mp4",
        "http://127.1.2.3:8080/a.mp4",
        "http://10.0.0.1/a.mp4",
        "http://172.16.5.4/a.mp4",
        "http://192.168.1.1/a.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1/a.mp4",
        "http://100.64.0.1/a.mp4",
        "http://0.0.0.0/a.mp4",
        "http://224.0.0.1/a.mp4",
        "http://240.0.0.1/a.mp4",
        "http://[::1]/a.mp4",
        "http://[::]/a.mp4",
        "http://[fe80::1]/a.mp4",
        "http://[fc00::1]/a.mp4",
        "http://[::ffff:127.0.0.1]/a.mp4",
        "http://[ff02::1]/a.mp4",
    ],
)
def test_private_addresses_refused(url: str) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        check_http_input(url, allow_private=False)
    assert_invalid(exc_info, "InputFile.Media")
    check_http_input(url, allow_private=True)


@pytest.mark.parametrize("url", ["http://8.8.8.8/a.mp4", "https://[2001:4860:4860::8888]/a"])
def test_public_addresses_pass(url: str) -> None:
    check_http_input(url, allow_private=False)


# Found by tests/e2e/test_api_fuzz.py: the IDNA codec raised UnicodeError (a 500) before
# any lookup; no resolver is asked, so these need no network.
@pytest.mark.parametrize("url", ["http://a..b/x", "http://\udcff/x", f"http://{'a' * 64}.com/x"])
def test_host_names_idna_cannot_encode_are_refused(url: str) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        check_http_input(url, allow_private=False)
    assert_invalid(exc_info, "InputFile.Media")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/a.mp4",
        "file:///etc/passwd",
        "http://user:pw@8.8.8.8/a.mp4",
        "http://user@8.8.8.8/a.mp4",
        "http:///a.mp4",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("check", [check_http_input, pin_http_input])
def test_scheme_and_credentials_refused(url: str, allow_private: bool, check) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        check(url, allow_private=allow_private, field="X.Media")
    assert_invalid(exc_info, "X.Media")


def _fake_resolver(*addresses: str):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


def test_any_private_address_of_a_name_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name with one public and one private record must not get through (FFmpeg may
    # connect to either).
    monkeypatch.setattr(storage_urls.socket, "getaddrinfo", _fake_resolver("8.8.8.8", "10.1.1.1"))
    with pytest.raises(InvalidJob):
        check_http_input("https://media.example.com/a.mp4", allow_private=False)
    monkeypatch.setattr(storage_urls.socket, "getaddrinfo", _fake_resolver("8.8.8.8"))
    check_http_input("https://media.example.com/a.mp4", allow_private=False)


@pytest.mark.parametrize(
    ("errno", "error_type"),
    [(socket.EAI_NONAME, InvalidJob), (socket.EAI_AGAIN, StorageUnavailable)],
)
def test_resolver_failures(monkeypatch: pytest.MonkeyPatch, errno: int, error_type) -> None:
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(errno, "resolver says no")

    monkeypatch.setattr(storage_urls.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(error_type) as exc_info:
        check_http_input("https://nowhere.example/a.mp4", allow_private=False)
    assert type(exc_info.value) is error_type


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("http://127.0.0.1:8080/a.mp4", {"127.0.0.1:8080"}),
        ("http://origin.internal/a.mp4", {"origin.internal"}),
        ("https://ORIGIN.internal/a.mp4", {"origin.internal:443"}),
    ],
)
def test_trusted_hosts_may_be_private(url: str, trusted: set[str]) -> None:
    check_http_input(url, allow_private=False, trusted=trusted)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8081/a.mp4", "http://127.0.0.1/a.mp4", "http://localhost:8080/a.mp4"],
)
def test_only_an_exact_trusted_host_counts(url: str) -> None:
    with pytest.raises(InvalidJob):
        check_http_input(url, allow_private=False, trusted={"127.0.0.1:8080"})


# --- pin_http_input: one resolution, the addresses to connect to ---------------------------


class Rebinding:
    """An injected resolver that answers ``first`` once, then ``then``: DNS rebinding."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.answers = [first, then]
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), 2) - 1]


def test_the_host_is_resolved_once_and_the_checked_addresses_are_pinned() -> None:
    dns = Rebinding(["8.8.8.8", "2001:4860:4860::8888", "8.8.8.8"], ["127.0.0.1"])
    pinned = pin_http_input("https://Media.example.com/a.mp4", allow_private=False, resolve=dns)
    assert pinned == PinnedHost("media.example.com", 443, ("8.8.8.8", "2001:4860:4860::8888"))
    assert dns.asked == [("media.example.com", 443)]  # the loopback answer is never asked for


@pytest.mark.parametrize(
    ("url", "allow_private", "trusted"),
    [
        ("http://origin.internal:8080/a.mp4", True, ()),
        ("http://origin.internal:8080/a.mp4", False, {"origin.internal:8080"}),
        ("http://origin.internal:8080/a.mp4", False, {"origin.internal"}),
    ],
)
def test_private_hosts_let_through_are_still_pinned(url, allow_private, trusted) -> None:
    dns = Rebinding(["10.1.1.1"], ["127.0.0.1"])
    pinned = pin_http_input(url, allow_private=allow_private, trusted=trusted, resolve=dns)
    assert pinned == PinnedHost("origin.internal", 8080, ("10.1.1.1",))
    assert len(dns.asked) == 1


@pytest.mark.parametrize("answer", [["8.8.8.8", "10.1.1.1"], ["::ffff:127.0.0.1"], []])
def test_pin_refuses_what_the_check_refuses(answer: list[str]) -> None:
    with pytest.raises(InvalidJob) as exc_info:
        pin_http_input(
            "http://media.example.com/a.mp4",
            allow_private=False,
            field="X.Media",
            resolve=Rebinding(answer, ["8.8.8.8"]),
        )
    assert_invalid(exc_info, "X.Media")


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (socket.gaierror(socket.EAI_NONAME, "no"), InvalidJob),
        (socket.gaierror(socket.EAI_AGAIN, "later"), StorageUnavailable),
        (UnicodeError("label empty or too long"), InvalidJob),
    ],
)
def test_pin_translates_resolver_failures(error: Exception, error_type) -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise error

    with pytest.raises(error_type) as exc_info:
        pin_http_input("https://nowhere.example/a.mp4", allow_private=True, resolve=resolve)
    assert type(exc_info.value) is error_type


def test_the_early_check_resolves_only_when_it_checks_addresses() -> None:
    dns = Rebinding(["10.1.1.1"], ["10.1.1.1"])
    check_http_input("http://origin.internal/a", allow_private=True, resolve=dns)
    check_http_input(
        "http://origin.internal/a", allow_private=False, trusted={"origin.internal"}, resolve=dns
    )
    assert dns.asked == []
    with pytest.raises(InvalidJob):
        check_http_input("http://origin.internal/a", allow_private=False, resolve=dns)
    assert dns.asked == [("origin.internal", 80)]
