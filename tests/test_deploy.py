"""deploy/service.yaml agrees with the code and with what the deferred path needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.settings import Settings
from chatbot.web import create_app

ROOT = Path(__file__).resolve().parent.parent
CLOUD_RUN_KILL_SECONDS = 10  # SIGKILL follows SIGTERM after this long
SLACK_WAIT_SECONDS = 3


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "service.yaml").read_text())
    return loaded


def _template(service: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = service["spec"]["template"]
    return template


def _container(service: dict[str, Any]) -> dict[str, Any]:
    (container,) = _template(service)["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env(service: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in _container(service).get("env", [])}


def test_is_a_knative_service(service: dict[str, Any]) -> None:
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["kind"] == "Service"
    assert service["metadata"]["name"] == "chatbot"


def test_port_is_the_one_the_image_listens_on(service: dict[str, Any]) -> None:
    (port,) = _container(service)["ports"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"\bPORT={port['containerPort']}\b", dockerfile)
    assert port["containerPort"] == Settings.model_fields["port"].default
    # Cloud Run sets PORT itself and refuses a revision that sets it.
    assert "PORT" not in _env(service)


def test_signing_secret_comes_from_secret_manager(service: dict[str, Any]) -> None:
    secret = _env(service)["SLACK_SIGNING_SECRET"]
    assert "value" not in secret
    reference = secret["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "chatbot-slack-signing-secret"
    assert reference["key"] == "latest"
    readme = (ROOT / "README.md").read_text()
    assert f"gcloud secrets create {reference['name']}" in readme


def test_deferred_answers_keep_their_cpu(service: dict[str, Any]) -> None:
    annotations = _template(service)["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 1
    assert annotations["run.googleapis.com/startup-cpu-boost"] == "true"
    # Instance-based billing is only offered with at least one whole vCPU.
    assert float(_container(service)["resources"]["limits"]["cpu"]) >= 1


def test_shutdown_grace_fits_before_the_kill(service: dict[str, Any]) -> None:
    grace = Settings(
        shutdown_grace_seconds=_env(service)["CHATBOT_SHUTDOWN_GRACE_SECONDS"]["value"]
    )
    assert grace.shutdown_grace_seconds < CLOUD_RUN_KILL_SECONDS


def test_request_timeout_covers_an_inline_answer(service: dict[str, Any]) -> None:
    spec = _template(service)["spec"]
    longest_inline = Settings.model_fields["inline_budget_seconds"].metadata
    budget_limit = next(m.le for m in longest_inline if hasattr(m, "le"))
    assert budget_limit < SLACK_WAIT_SECONDS <= spec["timeoutSeconds"]
    assert spec["containerConcurrency"] >= 1


def test_startup_probe_asks_a_route_that_exists(service: dict[str, Any]) -> None:
    probe = _container(service)["startupProbe"]["httpGet"]
    assert probe["port"] == _container(service)["ports"][0]["containerPort"]
    app = create_app(Settings(slack_signing_secret="x"))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert probe["path"] in paths


def test_admission_settings_fit_an_instance(service: dict[str, Any]) -> None:
    env = {name: item["value"] for name, item in _env(service).items() if "value" in item}
    settings = Settings(
        **{name.removeprefix("CHATBOT_").lower(): value for name, value in env.items()}
    )
    spec = _template(service)["spec"]
    memory = _container(service)["resources"]["limits"]["memory"]
    assert memory.endswith("Mi")
    # Every request's body in memory at once is a sliver of the instance.
    assert settings.max_body_bytes * spec["containerConcurrency"] < int(memory[:-2]) * 2**20 // 100
    # Room for every request Cloud Run may send at once, with idle connections besides.
    assert settings.max_connections >= 2 * spec["containerConcurrency"]
    assert "CHATBOT_RATE_LIMIT_USER" in env and "CHATBOT_RATE_LIMIT_TEAM" in env
    readme = (ROOT / "README.md").read_text()
    for name in (
        "CHATBOT_RATE_LIMIT_STORAGE",
        "CHATBOT_MAX_BODY_BYTES",
        "CHATBOT_ALLOWED_TEAM_IDS",
    ):
        assert f"`{name}`" in readme
