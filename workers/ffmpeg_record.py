"""What the job keeps of a unit's FFmpeg run: its command, secrets redacted, and its stderr tail.

The job console shows both (``JobStore.set_ffmpeg``). A command may name a URL with a
signature in its query (``X-Amz-Signature``, ``Signature``, ``token``…) or a password in
its userinfo, and FFmpeg repeats the URLs it opens on stderr: both go through
``redact_text`` before they are stored. Pure: tested on canned argvs and logs.
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"
#: Lines, then characters, of FFmpeg's stderr that the job keeps.
LOG_LINES = 20
LOG_CHARS = 4000
#: Options whose value is a secret itself (https://ffmpeg.org/ffmpeg-protocols.html:
#: http ``headers``/``cookies``, srt ``passphrase``; https://ffmpeg.org/ffmpeg-formats.html:
#: the mov/hls/dash decryption and encryption keys).
SECRET_OPTIONS = frozenset(
    {
        "-headers",
        "-cookies",
        "-passphrase",
        "-decryption_key",
        "-encryption_key",
        "-hls_enc_key",
    }
)
# A URL inside any text: a scheme, "://", then up to a space, a quote, "<", ">" or "|"
# (FFmpeg quotes the URLs it names; "|" separates the parts of a concat: URL).
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>|]+")


def _redact_values(text: str) -> str:
    """``a=1&b`` → ``a=REDACTED&b``: names stay (they say what was there), values go."""
    if not text:
        return text
    pairs = (pair.partition("=") for pair in text.split("&"))
    return "&".join(f"{name}={REDACTED}" if sep else name for name, sep, _ in pairs)


def redact_url(url: str) -> str:
    """``url`` without its userinfo (``user:pass@``) and with every query (and fragment)
    value replaced by ``REDACTED``: a signed URL's signature, token or expiry."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep nothing past the scheme
        return f"{url.partition('://')[0]}://{REDACTED}"
    netloc = parts.netloc.rpartition("@")[2]
    query, fragment = _redact_values(parts.query), _redact_values(parts.fragment)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (``redact_url``)."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_argv(argv: list[str]) -> list[str]:
    """``argv`` with its URLs redacted and the value of each ``SECRET_OPTIONS`` option
    replaced by ``REDACTED``."""
    redacted: list[str] = []
    for number, arg in enumerate(argv):
        secret = number > 0 and argv[number - 1] in SECRET_OPTIONS
        redacted.append(REDACTED if secret else redact_text(arg))
    return redacted


def command_line(argv: list[str]) -> str:
    """The shell line of ``argv``, secrets redacted: what the job console shows."""
    return shlex.join(redact_argv(argv))


def log_tail(stderr: str) -> str:
    """The last ``LOG_LINES`` lines of FFmpeg's stderr, at most ``LOG_CHARS`` characters
    of them, URLs redacted."""
    tail = "\n".join(redact_text(stderr).splitlines()[-LOG_LINES:])
    return tail[-LOG_CHARS:]
