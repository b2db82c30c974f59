"""deploy/prometheus and deploy/grafana checked by Prometheus's own promtool (Debian's
prometheus package, installed by ``make test-deps``): the config with its alert rules, and
every dashboard and autoscaling query as valid PromQL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.unit.test_deploy import DEPLOY, _k8s_docs, dashboard_queries


def promtool(*args: str, cwd: Path) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed (make test-deps installs Debian's prometheus)"
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_prometheus_config_and_alert_rules_pass_promtool(tmp_path):
    for path in (DEPLOY / "prometheus").iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "mcfarm-metrics-token").write_text("a-token\n")  # the config reads it
    out = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS: 6 rules found" in out


def test_every_dashboard_and_autoscaling_query_is_promql(tmp_path):
    queries = dashboard_queries()
    queries += [d["spec"]["triggers"][0]["metadata"]["query"] for d in _k8s_docs("keda.yaml")]
    rules = [{"record": f"mcfarm:check_{n}", "expr": q} for n, q in enumerate(queries)]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
    )
    out = promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    assert f"SUCCESS: {len(queries)} rules found" in out
