"""deploy/ files are checked by parsing them: there is no Docker engine on CI machines."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_runs_every_role_with_aof_redis():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "api", "worker-cpu", "flower"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert (
        services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
        == "yes"
    )
    assert services["worker-cpu"]["command"][:2] == ["mcfarm", "worker"]
    assert services["api"]["environment"]["MCFARM_REDIS_URL"].startswith("redis://redis:")
    assert "MCFARM_FLOWER_BASIC_AUTH" in services["flower"]["environment"]


def test_kubernetes_manifests_are_complete():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "mcfarm.yaml").read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("StatefulSet", "mcfarm-redis") in kinds
    assert {
        ("Deployment", n) for n in ("mcfarm-api", "mcfarm-worker-cpu", "mcfarm-flower")
    } <= kinds
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
        if doc["kind"] in ("Deployment", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
    redis = next(d for d in docs if d["kind"] == "StatefulSet")
    assert "--appendonly" in redis["spec"]["template"]["spec"]["containers"][0]["args"]


def test_systemd_units_parse_and_start_mcfarm():
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(unit.read_text())
        assert parser["Service"]["ExecStart"].split()[0].endswith("/mcfarm"), unit
        assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_flower_config_is_python():
    ast.parse((DEPLOY / "flower" / "flowerconfig.py").read_text())
