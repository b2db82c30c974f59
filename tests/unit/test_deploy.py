"""deploy/ files are checked by parsing them: there is no Docker engine on CI machines."""

from __future__ import annotations

import ast
import configparser
import json
import re
from pathlib import Path

import kubernetes_validate
import yaml
from prometheus_client import Counter, Histogram

from api.metrics import FarmCollector
from shared import metrics
from shared.config import Settings
from shared.redis_url import parse_redis_url

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


# --- operating a farm: metrics, autoscaling, alerts, dashboards ------------------------------


def _k8s_docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


def test_kubernetes_manifests_pass_their_schemas():
    """Every built-in kind against the Kubernetes API schemas (kubernetes-validate, offline)."""
    for doc in _k8s_docs("mcfarm.yaml"):
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_workers_outlive_their_longest_task_and_gpu_workers_get_a_gpu():
    docs = _k8s_docs("mcfarm.yaml")
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    limit = int(config.get("MCFARM_TASK_TIME_LIMIT", Settings().task_time_limit))
    workers = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["metadata"]["name"].startswith("mcfarm-worker-") and d["kind"] == "Deployment"
    }
    assert set(workers) == {"mcfarm-worker-cpu", "mcfarm-worker-gpu"}
    for pod in workers.values():
        assert pod["terminationGracePeriodSeconds"] > limit  # scale-in never kills an encode
        command = pod["containers"][0]["command"]
        assert command[command.index("--metrics-port") + 1] == "9464"
    gpu = workers["mcfarm-worker-gpu"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--queues" in gpu["command"] and "gpu" in gpu["command"]
    env = {e["name"]: e["value"] for e in gpu["env"]}
    assert set(env["NVIDIA_DRIVER_CAPABILITIES"].split(",")) >= {"compute", "video", "utility"}


def test_keda_scales_each_worker_deployment_on_its_queue_depth():
    deployments = {d["metadata"]["name"] for d in _k8s_docs("mcfarm.yaml")}
    scaled = _k8s_docs("keda.yaml")
    assert {d["kind"] for d in scaled} == {"ScaledObject"}
    for doc in scaled:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        target = doc["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        kind = target.rsplit("-", 1)[1]
        (trigger,) = doc["spec"]["triggers"]
        assert trigger["type"] == "prometheus"
        query = trigger["metadata"]["query"]
        assert f'mcfarm_queue_waiting_tasks{{kind="{kind}"}}' in query
        assert float(trigger["metadata"]["threshold"]) > 0
        assert doc["spec"]["minReplicaCount"] >= 1  # see the comment in keda.yaml


def exposed_metric_names() -> set[str]:
    """Every series name the farm exposes: shared.metrics' counters and histograms, and the
    gauges the API reads from Redis at scrape time."""
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, (Counter, Histogram)):
            (family,) = value.describe()
            suffixes = ("_total",) if family.type == "counter" else ("_bucket", "_sum", "_count")
            names |= {family.name + suffix for suffix in suffixes}
    return names | {family.name for family in FarmCollector(_NoFarm()).collect()}


class _NoFarm:
    """Stores answering "nothing there", for the collector's metric names."""

    class queues:  # noqa: N801
        waiting = reserved = staticmethod(lambda: {"cpu": 0})

    class workers:  # noqa: N801
        caps = staticmethod(list)

    class events:  # noqa: N801
        dead_count = staticmethod(lambda: 0)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "mcfarm-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_dashboards_alerts_and_autoscaling_read_metrics_that_exist():
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    queries = [r["expr"] for group in alerts["groups"] for r in group["rules"]]
    queries += [d["spec"]["triggers"][0]["metadata"]["query"] for d in _k8s_docs("keda.yaml")]
    queries += dashboard_queries()
    known = exposed_metric_names()
    used = {name for query in queries for name in re.findall(r"\bmcfarm_[a-z_]+", query)}
    assert used and used <= known, used - known
    names = {r.get("alert") for group in alerts["groups"] for r in group["rules"]}
    assert {"McfarmNoCpuWorker", "McfarmQueueGrowing", "McfarmJobErrorRate"} <= names
    assert "McfarmCallbacksDeadLettered" in names


def test_compose_sentinel_override_gives_every_process_the_sentinel_set():
    base = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    override = yaml.safe_load((DEPLOY / "compose.sentinel.yaml").read_text())["services"]
    for name in ("api", "worker-cpu", "flower"):
        assert name in base
        target = parse_redis_url(override[name]["environment"]["MCFARM_REDIS_URL"])
        assert target.sentinel and target.master == "mcfarm"
        assert {host for host, _ in target.sentinels} == {"sentinel1", "sentinel2", "sentinel3"}
        assert all(host in override for host, _ in target.sentinels)
    replica = override["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
    script = override["sentinel1"]["command"][-1]
    assert "sentinel monitor mcfarm redis 6379 2" in script  # quorum: 2 of the 3 sentinels
