"""deploy/service.yaml agrees with the code and with what the deferred path needs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot import config_errors
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


# Variables an operator may set, made from the Settings class (never a list by hand).
SETTINGS_VARIABLES = {config_errors.env_name(name): name for name in Settings.model_fields}
# `# - name: X` / `#   value: Y` pairs: settings left for the operator to uncomment.
_COMMENTED = re.compile(r"^\s*#\s*- name: (\S+)\n\s*#\s+value: (.+)$", re.M)


def _commented_env() -> dict[str, str]:
    text = (ROOT / "deploy" / "service.yaml").read_text()
    return {name: value.strip().strip('"') for name, value in _COMMENTED.findall(text)}


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings read from exactly `env` as pydantic-settings reads the environment."""
    for name in list(os.environ):
        if name.upper().startswith("CHATBOT_") or name.upper() in SETTINGS_VARIABLES:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return config_errors.load()


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
    steps = (ROOT / "docs" / "deploy.md").read_text()
    assert f"gcloud secrets create {reference['name']}" in steps


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


@pytest.mark.parametrize(
    ("probe", "path"),
    # Startup waits for /ready (the app started, its delivery client works); liveness
    # asks /health, which a failing receiver or network does not turn to 503: a
    # restart would not cure those and would drop the answers still pending.
    [("startupProbe", "/ready"), ("livenessProbe", "/health")],
)
def test_probes_ask_the_routes_meant_for_them(
    service: dict[str, Any], probe: str, path: str
) -> None:
    asked = _container(service)[probe]["httpGet"]
    assert asked["path"] == path
    assert asked["port"] == _container(service)["ports"][0]["containerPort"]
    app = create_app(Settings(slack_signing_secret="x"))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert asked["path"] in paths


def test_every_variable_is_a_setting(service: dict[str, Any]) -> None:
    """A misspelt variable is ignored by pydantic-settings (extra="ignore"): caught here,
    commented-out ones too, since an operator uncomments them as they are."""
    named = set(_env(service)) | set(_commented_env())
    assert "CHATBOT_RATE_LIMIT_STORAGE" in named and "CHATBOT_ALLOWED_TEAM_IDS" in named
    assert named - set(SETTINGS_VARIABLES) == set()


def test_values_parse_as_settings(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from the environment as the service reads it, uncommented ones included, each
    value reaches its setting (and none is refused: `load` raises on any problem)."""
    env = {name: item["value"] for name, item in _env(service).items() if "value" in item}
    everything = {**env, **_commented_env()}
    settings = _settings_from(everything, monkeypatch)
    for name, value in everything.items():
        field = SETTINGS_VARIABLES[name]
        assert getattr(settings, field) == getattr(Settings(**{field: value}), field), name
    # Google Cloud blocks outbound port 25: /mail must not try it there.
    assert env["CHATBOT_MAIL_SMTP_CHECKS"] == "false" and settings.mail_smtp_checks is False
    for name in (
        "CHATBOT_RATE_LIMIT_USER",
        "CHATBOT_RATE_LIMIT_TEAM",
        "CHATBOT_RATE_LIMIT_STORAGE",
        "CHATBOT_ALLOWED_TEAM_IDS",
        "CHATBOT_MAX_BODY_BYTES",
        "CHATBOT_MAX_CONNECTIONS",
    ):
        assert name in everything


def test_admission_settings_fit_an_instance(
    service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {name: item["value"] for name, item in _env(service).items() if "value" in item}
    settings = _settings_from(env, monkeypatch)
    spec = _template(service)["spec"]
    memory = _container(service)["resources"]["limits"]["memory"]
    assert memory.endswith("Mi")
    # Every request's body in memory at once is a sliver of the instance.
    assert settings.max_body_bytes * spec["containerConcurrency"] < int(memory[:-2]) * 2**20 // 100
    # Room for every request Cloud Run may send at once, with idle connections besides.
    assert settings.max_connections >= 2 * spec["containerConcurrency"]
    assert "CHATBOT_RATE_LIMIT_USER" in env and "CHATBOT_RATE_LIMIT_TEAM" in env
    settings_table = (ROOT / "docs" / "operations.md").read_text()
    for name in (
        "CHATBOT_RATE_LIMIT_STORAGE",
        "CHATBOT_MAX_BODY_BYTES",
        "CHATBOT_ALLOWED_TEAM_IDS",
    ):
        assert f"`{name}`" in settings_table
