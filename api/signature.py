"""Verify the signatures the ICE SDK puts on its requests (reference §3.3, §3.4, Appendix A).

Two schemes are accepted: ACS3-HMAC-SHA256 (an ``Authorization`` header; the SDK default) and
the legacy v2 RPC signature (HMAC-SHA1 in a ``Signature`` parameter; ``signature_algorithm="v2"``
and older SDKs). Everything here is pure: the Flask layer turns a request into a
:class:`SignedRequest`, :func:`verify` returns the :class:`Caller` or raises
:class:`~shared.errors.ApiError` with the gateway's code and status (reference §6.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from api.params import required
from shared.config import AccessKey
from shared.errors import ApiError, missing_parameter

ACS3 = "ACS3-HMAC-SHA256"
V2 = "HMAC-SHA1"

#: ACS3 variants the SDK can be configured to send but mcfarm does not verify.
_OTHER_ACS3 = frozenset({"ACS3-HMAC-SM3", "ACS3-RSA-SHA256"})

#: Headers every ACS3 request must sign: "all common request headers except Authorization must
#: be signed if present" (reference §3.3 step 5). Without them a signature could be lifted onto
#: another action, date or nonce.
REQUIRED_SIGNED_HEADERS = frozenset(
    {
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    }
)

# re.ASCII: without it \d also matches other scripts' digits, which strptime then rejects late.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MISMATCH = "Specified signature is not matched with our calculation."
_ACCEPTED = "mcfarm accepts only ACS3-HMAC-SHA256 (the SDK default) and the v2 HMAC-SHA1 signature."

HeaderValue = str | Sequence[str]


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers, as the web layer received it.

    Attributes:
        method: the HTTP method, e.g. ``POST``.
        path: the decoded request path (``/`` for ICE).
        query: decoded query pairs in order, duplicates kept (``parse_qsl(keep_blank_values=True)``).
        form: decoded pairs of an ``application/x-www-form-urlencoded`` body, else empty.
        headers: lower-case names to text values (UTF-8 decoded); a header received more than
            once may be given as the list of its values. ``host`` must be the raw Host header,
            exactly as received: the SDK signs its endpoint string verbatim.
        body: the raw body bytes.
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: Mapping[str, HeaderValue]
    body: bytes


@dataclass(frozen=True)
class Caller:
    """Who signed a request, and how.

    Attributes:
        key: the access key whose secret made the signature.
        algorithm: ``ACS3-HMAC-SHA256`` or ``HMAC-SHA1`` (v2).
        nonce: the signature nonce the request carried.
        signed_at: the signed ``x-acs-date`` / ``Timestamp``, in UTC.
    """

    key: AccessKey
    algorithm: str
    nonce: str
    signed_at: datetime


@dataclass(frozen=True)
class _Authorization:
    """The parts of an ACS3 ``Authorization`` header."""

    key_id: str
    signed_headers: tuple[str, ...]
    signature: str


class NonceCache(Protocol):
    """Remembers signature nonces so a captured request cannot be replayed."""

    def use(self, key_id: str, nonce: str, ttl_s: int) -> bool:
        """Record ``nonce`` for ``ttl_s`` seconds; True when it was not seen before."""
        ...


# --- canonical forms (pure; shared with tests and clients) ------------------------------


def pct(s: str) -> str:
    """RFC 3986 encoding as Alibaba signs it: only ``A-Za-z0-9-_.~`` stay, space is ``%20``."""
    # surrogatepass: a lone surrogate must give a mismatch, never a UnicodeEncodeError.
    return quote(s, safe="~", encoding="utf-8", errors="surrogatepass")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sorted ``pct(key)=pct(value)`` pairs joined with ``&`` (reference §3.3 step 4).

    Sorted on the decoded text like the SDK; the value breaks ties so that repeated keys
    (which the SDK never sends) still give one canonical form.
    """
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(pairs))


def header_text(value: HeaderValue) -> str:
    """One header's canonical value: stripped; several values stripped, sorted, joined by ``,``."""
    if isinstance(value, str):
        return value.strip()
    return ",".join(sorted(v.strip() for v in value))


def acs3_canonical_request(
    req: SignedRequest, signed_headers: Sequence[str], payload_hash: str
) -> str:
    """The ACS3 canonical request (reference §3.3 step 6) over exactly ``signed_headers``."""
    headers = "".join(f"{n}:{header_text(req.headers.get(n, ''))}\n" for n in signed_headers)
    query = canonical_query(req.query)  # form pairs are covered by payload_hash instead
    # headers ends with "\n", so a blank line precedes SignedHeaders, as in the SDK.
    return (
        f"{req.method}\n{req.path or '/'}\n{query}\n{headers}\n"
        f"{';'.join(signed_headers)}\n{payload_hash}"
    )


def acs3_string_to_sign(
    req: SignedRequest, signed_headers: Sequence[str], payload_hash: str
) -> str:
    """``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request (reference §3.3 step 7)."""
    canonical = acs3_canonical_request(req, signed_headers, payload_hash)
    return f"{ACS3}\n{_sha256_hex(_utf8(canonical))}"


def v2_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """``METHOD&%2F&pct(canonical query)`` over every parameter but ``Signature`` (§3.4)."""
    # The SDK hard-codes the path as "/" in v2, whatever the URL.
    signed = canonical_query((k, v) for k, v in params if k != "Signature")
    return f"{method}&{pct('/')}&{pct(signed)}"


def action_and_version(req: SignedRequest) -> tuple[str | None, str | None]:
    """The ``(Action, Version)`` a request asks for, from the part its signature covers.

    ACS3 signs the ``x-acs-action``/``x-acs-version`` headers (the query falls back); v2 signs
    only parameters, so there the headers are ignored: an unsigned header must not be able to
    turn a signed ``GetMediaConvertJob`` into another action.
    """
    if _header(req, "authorization") is not None:
        return (
            _header(req, "x-acs-action") or _param(req, "Action"),
            _header(req, "x-acs-version") or _param(req, "Version"),
        )
    return _param(req, "Action"), _param(req, "Version")


# --- verification ---------------------------------------------------------------------


def verify(
    req: SignedRequest,
    keys: Mapping[str, AccessKey],
    *,
    now: datetime,
    window_s: int = 900,
    nonces: NonceCache | None = None,
) -> Caller:
    """Check a request's signature, date and nonce; return who signed it.

    Args:
        req: the request as received.
        keys: the known access keys by id.
        now: the server time (naive means UTC).
        window_s: how far the signed date may be from ``now``, either way.
        nonces: where used nonces are remembered (for twice the window); None skips replay checks.

    Returns:
        The caller: its key, the scheme, the nonce and the signed time.

    Raises:
        ApiError: ``MissingParameter``, ``IncompleteSignature``, ``InvalidSecurityToken.Malformed``,
            ``InvalidTimeStamp.Format``/``.Expired``, ``SignatureDoesNotMatch`` or
            ``SignatureNonceUsed`` (400), ``InvalidAccessKeyId.NotFound`` (404).
    """
    _refuse_sts(req)
    authorization = _header(req, "authorization")
    if authorization is not None:
        caller = _verify_acs3(req, authorization, keys, now, window_s)
    elif any(k == "Signature" for k, _ in _params(req)):
        caller = _verify_v2(req, keys, now, window_s)
    else:
        raise ApiError(
            'The input parameter "Signature" that is mandatory for processing this request is '
            "not supplied. Send an ACS3-HMAC-SHA256 Authorization header (what the ICE SDK "
            "does by default) or the v2 Signature parameters.",
            code="MissingParameter",
        )
    # Only now: a forged request must not be able to burn someone else's nonce.
    if nonces is not None and not nonces.use(caller.key.key_id, caller.nonce, 2 * window_s):
        raise ApiError("Specified signature nonce was used already.", code="SignatureNonceUsed")
    return caller


def _verify_acs3(
    req: SignedRequest,
    authorization: str,
    keys: Mapping[str, AccessKey],
    now: datetime,
    window_s: int,
) -> Caller:
    auth = _parse_authorization(authorization)
    for name in auth.signed_headers:
        if name not in req.headers:  # not ``required``: a signed header may be empty
            raise missing_parameter(name)
    key = _lookup(keys, auth.key_id)
    payload_hash = _sha256_hex(req.body)
    if not _same(_header(req, "x-acs-content-sha256") or "", payload_hash):
        raise _mismatch("x-acs-content-sha256 is not the SHA-256 of the request body.")
    signed_at = _check_time(_header(req, "x-acs-date"), "x-acs-date", now, window_s)
    nonce = required(_header(req, "x-acs-signature-nonce"), "x-acs-signature-nonce")
    to_sign = acs3_string_to_sign(req, auth.signed_headers, payload_hash)
    expected = hmac.new(_utf8(key.secret), _utf8(to_sign), hashlib.sha256).hexdigest()
    if not _same(expected, auth.signature):
        raise _mismatch(f"server string to sign is:{to_sign}")
    return Caller(key, ACS3, nonce, signed_at)


def _parse_authorization(value: str) -> _Authorization:
    """Split ``ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm in _OTHER_ACS3:
        raise _incomplete(f"{algorithm} is not supported: {_ACCEPTED}")
    if algorithm != ACS3:
        raise _incomplete(f"The Authorization header must start with {ACS3}. {_ACCEPTED}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, text = part.strip().partition("=")
        if not sep:
            raise _incomplete(f"Authorization part {part.strip()!r} is not name=value.")
        fields[name] = text
    absent = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
    if absent:
        raise _incomplete(f"Authorization lacks {', '.join(absent)}.")
    names = tuple(fields["SignedHeaders"].split(";"))
    unsigned = sorted(REQUIRED_SIGNED_HEADERS.difference(names))
    if unsigned or "" in names:
        raise _incomplete(f"SignedHeaders must list {';'.join(sorted(REQUIRED_SIGNED_HEADERS))}.")
    return _Authorization(fields["Credential"], names, fields["Signature"])


def _verify_v2(
    req: SignedRequest, keys: Mapping[str, AccessKey], now: datetime, window_s: int
) -> Caller:
    params = _params(req)
    signature = _single(params, "Signature") or ""
    _check_v2_method(params)
    key = _lookup(keys, _required(params, "AccessKeyId"))
    signed_at = _check_time(_single(params, "Timestamp"), "Timestamp", now, window_s)
    nonce = _required(params, "SignatureNonce")
    to_sign = v2_string_to_sign(req.method, params)
    digest = hmac.new(_utf8(key.secret + "&"), _utf8(to_sign), hashlib.sha1).digest()
    if not _same(base64.b64encode(digest).decode("ascii"), signature):
        raise _mismatch(f"server string to sign is:{to_sign}")
    return Caller(key, V2, nonce, signed_at)


def _check_v2_method(params: list[tuple[str, str]]) -> None:
    method = _required(params, "SignatureMethod")
    version = _required(params, "SignatureVersion")
    if method != V2 or version != "1.0":
        raise _incomplete(
            f"SignatureMethod {method} version {version} is not supported: {_ACCEPTED}"
        )


def _check_time(raw: str | None, name: str, now: datetime, window_s: int) -> datetime:
    """Parse a signed ``yyyy-MM-ddTHH:mm:ssZ`` time and require it within the window."""
    raw = required(raw, name)
    try:
        if not _TIMESTAMP.fullmatch(raw):
            raise ValueError(raw)
        signed_at = datetime.strptime(raw, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(
            f"Specified time stamp or date value is not well formatted: {name} must look like "
            "2026-11-24T09:05:24Z (UTC).",
            code="InvalidTimeStamp.Format",
        ) from None
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if abs(now - signed_at) > timedelta(seconds=window_s):
        raise ApiError(
            f"Specified time stamp or date value is expired: {name} {raw} is more than "
            f"{window_s} s away from the server time {now.astimezone(UTC):{_TIMESTAMP_FORMAT}}.",
            code="InvalidTimeStamp.Expired",
        )
    return signed_at


def _refuse_sts(req: SignedRequest) -> None:
    if "x-acs-security-token" in req.headers or _param(req, "SecurityToken") is not None:
        raise ApiError(
            "The security token is not valid: mcfarm issues no STS tokens; sign with a "
            "long-term access key from MCFARM_ACCESS_KEYS and no security_token.",
            code="InvalidSecurityToken.Malformed",
        )


# --- small helpers --------------------------------------------------------------------


def _lookup(keys: Mapping[str, AccessKey], key_id: str) -> AccessKey:
    key = keys.get(key_id)
    if key is None:
        raise ApiError(
            "Specified access key is not found.",
            code="InvalidAccessKeyId.NotFound",
            http_status=404,
        )
    return key


def _header(req: SignedRequest, name: str) -> str | None:
    value = req.headers.get(name)
    return None if value is None else header_text(value)


def _params(req: SignedRequest) -> list[tuple[str, str]]:
    # The SDK merges query and form body into the parameters it signs (v2) or reads (both).
    return [*req.query, *req.form]


def _param(req: SignedRequest, name: str) -> str | None:
    return next((v for k, v in _params(req) if k == name), None)


def _single(params: list[tuple[str, str]], name: str) -> str | None:
    """The one value of a protocol parameter; two would leave "which one?" open."""
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise _incomplete(f'The parameter "{name}" is given more than once.')
    return values[0] if values else None


def _required(params: list[tuple[str, str]], name: str) -> str:
    return required(_single(params, name), name)


def _incomplete(why: str) -> ApiError:
    return ApiError(
        f"The request signature does not conform to Aliyun standards. {why}",
        code="IncompleteSignature",
    )


def _mismatch(detail: str) -> ApiError:
    return ApiError(f"{_MISMATCH} {detail}", code="SignatureDoesNotMatch")


def _same(a: str, b: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes keep it constant-time and exception-free.
    return hmac.compare_digest(_utf8(a), _utf8(b))


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", errors="surrogatepass")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
