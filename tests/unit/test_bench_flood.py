"""The pure parts of ``bench.flood``: percentiles, the report and the request signer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.signature import SignedRequest, verify
from bench.flood import QUERY, FloodResult, Latency, format_report, latency, signed_headers
from shared.config import AccessKey
from shared.errors import ApiError


def test_latency_is_median_and_nearest_rank_p95_in_ms():
    assert latency([0.001 * n for n in range(1, 101)]) == Latency(50.5, 95.0)
    assert latency([0.002]) == Latency(2.0, 2.0)
    with pytest.raises(ValueError):
        latency([])


def test_report_gives_the_ratio_and_the_flood_rate():
    result = FloodResult(Latency(2.0, 3.0), Latency(3.0, 6.0), 300, 2.0)
    assert result.ratio == 1.5 and result.flood_rate == 150
    report = format_report(result, 8)
    assert "ratio (median) 1.50x; p95 ratio 2.00x" in report
    assert "300 forged calls in 2.0 s = 150/s" in report


def _received(headers: dict[str, str]) -> SignedRequest:
    return SignedRequest("POST", "/", sorted(QUERY.items()), [], headers, b"")


def test_signed_headers_verify_and_a_wrong_secret_does_not():
    now = datetime(2026, 11, 24, 9, 5, 24, tzinfo=UTC)
    keys = {"k1": AccessKey("k1", "s3cret", "acme")}
    good = signed_headers("127.0.0.1:8080", "k1", "s3cret", QUERY, now=now)
    assert verify(_received(good), keys, now=now).key.key_id == "k1"
    forged = signed_headers("127.0.0.1:8080", "k1", "wrong", QUERY, now=now)
    with pytest.raises(ApiError) as err:
        verify(_received(forged), keys, now=now)
    assert err.value.code == "SignatureDoesNotMatch"
