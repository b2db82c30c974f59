"""workers.ffmpeg_record: what a unit's FFmpeg record keeps, secrets out (pure, canned text)."""

from __future__ import annotations

import shlex

import pytest

from workers.ffmpeg_record import (
    LOG_CHARS,
    LOG_LINES,
    command_line,
    log_tail,
    redact_argv,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://b.s3.amazonaws.com/in.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abc123",
            "https://b.s3.amazonaws.com/in.mp4?X-Amz-Algorithm=REDACTED"
            "&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED",
        ),
        (
            "http://b.oss.example.com/a.mp4?OSSAccessKeyId=K&Expires=1&Signature=s%3D",
            "http://b.oss.example.com/a.mp4?OSSAccessKeyId=REDACTED&Expires=REDACTED"
            "&Signature=REDACTED",
        ),
        ("https://user:pass@host:8443/a.mp4", "https://host:8443/a.mp4"),
        ("rtmp://live:s3cret@host/app/key?token=t", "rtmp://host/app/key?token=REDACTED"),
        (
            "https://host/a.mp4?flag&token=t#sig=x",
            "https://host/a.mp4?flag&token=REDACTED#sig=REDACTED",
        ),
        ("https://host/a.mp4", "https://host/a.mp4"),
        ("oss://bucket/key/a.mp4", "oss://bucket/key/a.mp4"),
        ("file:///tmp/in.mp4", "file:///tmp/in.mp4"),
        ("http://u:p@[::1/a?x=1", "http://REDACTED"),  # an unclosed IPv6 bracket
    ],
)
def test_a_url_loses_its_userinfo_and_query_values(url, redacted):
    assert redact_url(url) == redacted


def test_urls_inside_text_are_redacted_and_the_rest_kept():
    text = (
        "[https @ 0x1] Opening 'https://u:p@h/a.mp4?Signature=s' for reading\n"
        "Input #0, mov, from 'https://h/a.mp4?token=t':\n"
        "concat:https://h/1.ts?k=v|https://h/2.ts?k=w"
    )
    assert redact_text(text) == (
        "[https @ 0x1] Opening 'https://h/a.mp4?Signature=REDACTED' for reading\n"
        "Input #0, mov, from 'https://h/a.mp4?token=REDACTED':\n"
        "concat:https://h/1.ts?k=REDACTED|https://h/2.ts?k=REDACTED"
    )


def test_an_argv_loses_its_secrets_and_keeps_everything_else():
    argv = ["ffmpeg", "-headers", "Authorization: Bearer t0k", "-i", "https://h/a?sig=1"]
    argv += ["-vf", "scale=320:-2", "-decryption_key", "00ff", "/tmp/out file.mp4"]
    assert redact_argv(argv) == [
        "ffmpeg",
        "-headers",
        "REDACTED",
        "-i",
        "https://h/a?sig=REDACTED",
        "-vf",
        "scale=320:-2",
        "-decryption_key",
        "REDACTED",
        "/tmp/out file.mp4",
    ]
    line = command_line(argv)
    assert shlex.split(line) == redact_argv(argv)
    assert "t0k" not in line and "00ff" not in line and "sig=1" not in line


def test_a_secret_option_without_a_value_is_kept():
    assert redact_argv(["ffmpeg", "-headers"]) == ["ffmpeg", "-headers"]


def test_the_log_keeps_the_last_lines_redacted():
    stderr = "\n".join(f"line {n}" for n in range(50)) + "\nfrom 'https://h/a?X-Amz-Signature=z'"
    tail = log_tail(stderr)
    assert tail.splitlines() == [
        *(f"line {n}" for n in range(50 - LOG_LINES + 1, 50)),
        "from 'https://h/a?X-Amz-Signature=REDACTED'",
    ]


def test_the_log_keeps_at_most_its_last_characters():
    stderr = "\n".join(["x" * 1000] * 10) + "\nthe error"
    tail = log_tail(stderr)
    assert len(tail) == LOG_CHARS and tail.endswith("\nthe error")


def test_an_empty_log_stays_empty():
    assert log_tail("") == ""
