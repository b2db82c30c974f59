"""bench.boost's arithmetic and report (the benchmark itself runs farms: make bench-boost)."""

from __future__ import annotations

import pytest

from bench.boost import BoostRun, format_report, parse_args, per_core


def test_speed_up_and_speed_up_per_worker():
    standard = BoostRun("standard", 1, None, 200.0, 7193)
    boost = BoostRun("boost", 2, 20, 105.0, 7193, reencoded=1, piece_share=0.0925)
    speed, core = per_core(standard, boost)
    assert speed == pytest.approx(1.9048, abs=1e-4) and core == pytest.approx(0.9524, abs=1e-4)
    report = format_report(standard, [boost]).splitlines()
    assert report[0].split() == ["mode", "workers", "chunk", "s", "seconds", "speed-up"] + [
        "/core",
        "again",
        "read",
    ]
    assert report[2].split() == ["boost", "2", "20", "105.0", "1.90", "0.95", "1", "0.0925"]


def test_arguments_are_checked():
    args = parse_args(["--minutes", "1", "--chunk-seconds", "10", "30", "--workers", "2"])
    assert (args.minutes, args.chunk_seconds, args.workers) == (1, [10, 30], 2)
    with pytest.raises(SystemExit):
        parse_args(["--chunk-seconds", "1"])
