"""The pure parts of ``bench.api``: reading wrk's report, and the report printed."""

from __future__ import annotations

from bench.api import format_report, parse_wrk

WRK = """Running 10s test @ http://127.0.0.1:8080
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.41ms    4.10ms  51.20ms   80.00%
  Latency Distribution
     50%  750.00us
     75%    7.10ms
     90%   11.00ms
     99%    1.20s
  22120 requests in 10.00s, 30.12MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2212.45
Transfer/sec:      3.01MB
"""


def test_wrk_report_gives_rate_percentiles_in_ms_and_errors():
    assert parse_wrk(WRK) == (2212.45, 0.75, 1200.0, 3)
    assert parse_wrk(WRK.replace("  Non-2xx or 3xx responses: 3\n", ""))[3] == 0


def test_report_puts_the_issues_figures_and_each_target_beside_its_own():
    result = {
        "bytes_per_job": 3890,
        "loads": [
            {
                "call": "submit REST",
                "requests_per_s": 284.4,
                "p50_ms": 48.75,
                "p99_ms": 210.7,
                "errors": 0,
            },
            {"call": "Get", "requests_per_s": 2212.0, "p50_ms": 6.41, "p99_ms": 24.36, "errors": 0},
        ],
    }
    report = format_report(result).splitlines()
    assert report[1].split()[:4] == ["submit", "REST", "284", "48.75"]
    assert report[1].endswith("388/s, p99 131 ms      ≥ 1000/s, p99 ≤ 30 ms")
    assert report[2].endswith("1840/s, p99 30 ms      p99 ≤ 10 ms")
    assert report[-1] == "job store: 3890 bytes per finished job (target ≤ 8192)"
