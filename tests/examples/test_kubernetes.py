"""examples/kubernetes/ agrees with what the code serves: paths, ports, metric names, labels, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from board import create_board
from board.adapters.prometheus import QueueSample, exposition
from board.cli import parser
from board.cli_settings import listen_settings
from board.engine.inspector import QueueStatus
from board.engine.metrics import QueueFigures

ROOT = Path(__file__).resolve().parent.parent.parent
K8S = ROOT / "examples" / "kubernetes"


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


DOCS = documents()


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def env_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry.get("value") for entry in spec.get("env", [])}


def exported() -> dict[str, set[str]]:
    """Each series the board's /metrics writes, with its labels."""
    sample = QueueSample(QueueStatus("email", counts={"wait": 3}), QueueFigures())
    text = exposition([sample]).decode()
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, set()).update(s.labels)
    return found


def test_every_manifest_is_read() -> None:
    assert {kind for kind, _ in DOCS} >= {
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PodMonitor",
        "ConfigMap",
        "HorizontalPodAutoscaler",
    }


def test_the_board_deployment_probes_and_scrapes_what_the_board_serves(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = container(DOCS[("Deployment", "board")])
    args = parser().parse_args(board["args"])
    monkeypatch.delenv("BOARD_PORT", raising=False)
    monkeypatch.delenv("BOARD_BASE_PATH", raising=False)
    listen = listen_settings(args)
    ports = {p["name"]: p["containerPort"] for p in board["ports"]}
    assert ports["http"] == listen.port and listen.base_path == ""
    token = "kubernetes-token-0123456789"
    app = create_board(redis_url, queues=["email"], metrics_token=token, secret_key="k" * 32)
    with TestClient(app) as client:
        for probe in ("livenessProbe", "readinessProbe"):
            path = board[probe]["httpGet"]["path"]
            assert board[probe]["httpGet"]["port"] == "http"
            assert client.get(path).status_code == 200, path
        (endpoint,) = DOCS[("ServiceMonitor", "board")]["spec"]["endpoints"]
        assert endpoint["port"] == "http"
        scraped = client.get(endpoint["path"], headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "bullmq_queue_waiting" in scraped.text
    env = env_of(board)
    assert "BOARD_METRICS_TOKEN" in env and endpoint["authorization"]["type"] == "Bearer"
    service = DOCS[("Service", "board")]
    assert service["spec"]["selector"] == DOCS[("Deployment", "board")]["spec"]["template"]["metadata"]["labels"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_the_worker_gets_time_to_finish_and_serves_its_metrics() -> None:
    deployment = DOCS[("Deployment", "email-worker")]
    worker = container(deployment)
    args = parser().parse_args(worker["args"])
    assert args.queue == "email" and args.processor == "app.jobs:send_email"
    env = env_of(worker)
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(env["BOARD_SHUTDOWN_TIMEOUT"])
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports["metrics"] == int(env["BOARD_WORKER_METRICS_PORT"])
    (endpoint,) = DOCS[("PodMonitor", "email-worker")]["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"


def test_the_autoscaler_reads_the_series_the_board_exports() -> None:
    series = exported()
    config = yaml.safe_load(DOCS[("ConfigMap", "prometheus-adapter")]["data"]["config.yaml"])
    (rule,) = config["externalRules"]
    assert rule["seriesQuery"].startswith("bullmq_queue_waiting{")
    assert "queue" in series["bullmq_queue_waiting"]
    hpa = DOCS[("HorizontalPodAutoscaler", "email-worker")]["spec"]
    (metric,) = hpa["metrics"]
    assert metric["external"]["metric"]["name"] == rule["name"]["as"] == "bullmq_queue_waiting"
    assert set(metric["external"]["metric"]["selector"]["matchLabels"]) <= series["bullmq_queue_waiting"]
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "50"}
    assert hpa["scaleTargetRef"]["name"] == "email-worker"


def test_every_variable_the_manifests_set_is_read_by_the_code() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "board").rglob("*.py"))
    for (kind, _), doc in DOCS.items():
        if kind != "Deployment":
            continue
        for name in env_of(container(doc)):
            assert f'"{name}"' in source or f'"{name.removesuffix("_FILE")}"' in source, name
