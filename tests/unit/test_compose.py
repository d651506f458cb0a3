"""docker-compose.yml as Compose itself reads it (`docker compose config`, no daemon needed): both profiles
are valid, describe the deployments the README promises, and every healthcheck runs a tool its image has."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

# What each image can run in a healthcheck (checked against the images: qdrant has bash but no curl,
# caddy's alpine has busybox wget, vLLM's and ours have Python).
_TOOLS_BY_IMAGE = {
    "redis:": {"redis-cli"},
    "qdrant/qdrant:": {"bash"},
    "vllm/vllm-openai:": {"python3"},
    "caddy:": {"wget"},
}
_OUR_IMAGE_TOOLS = {"python"}
_ONE_SHOT = {"migrate", "migrate-cluster"}


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "no Compose CLI: scripts/test.sh installs Debian's docker-compose"
    return [legacy]


def _rendered(tmp_path: Path, profile: str) -> dict[str, Any]:
    """The compose file rendered for `profile`, with only that profile's services (and unprofiled ones)."""
    project = tmp_path / profile
    project.mkdir()
    shutil.copy(REPO_ROOT / "docker-compose.yml", project)
    shutil.copytree(REPO_ROOT / "deploy", project / "deploy")
    env = (REPO_ROOT / ".env.example").read_text()
    secrets = "\nBOT_TOKEN=123456:TEST-token\nWEBHOOK_SECRET=s3cret-0123456789abcdef\n"
    (project / ".env").write_text(env + secrets)
    result = subprocess.run(
        [*_compose_command(), "--profile", profile, "config"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    # docker-compose 1.x renders every service; keep those the profile starts, as Compose does at `up`.
    config["services"] = {
        name: service
        for name, service in config["services"].items()
        if not service.get("profiles") or profile in service["profiles"]
    }
    return config


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _rendered(tmp_path_factory.mktemp("compose"), "single")


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _rendered(tmp_path_factory.mktemp("compose"), "scale")


def test_env_example_selects_the_single_host_profile() -> None:
    assert "COMPOSE_PROFILES=single" in (REPO_ROOT / ".env.example").read_text().splitlines()


def test_single_host_profile_is_one_polling_bot(single: dict[str, Any]) -> None:
    services = single["services"]
    assert set(services) == {"redis", "qdrant", "migrate", "bot", "vllm"}
    assert services["bot"]["command"] == ["run"]
    assert services["bot"]["environment"].get("TELEGRAM_MODE", "polling") == "polling"
    # The bot starts without waiting for vLLM (its first start downloads ~25 GB): /readyz tells instead.
    assert "vllm" not in services["bot"]["depends_on"]


def test_scale_profile_is_webhook_replicas_a_worker_a_cluster_and_a_sentinel(scale: dict[str, Any]) -> None:
    services = scale["services"]
    assert {"bot-1", "bot-2", "worker", "caddy", "qdrant-1", "qdrant-2", "qdrant-3", "redis-sentinel"} <= set(
        services
    )
    assert not {"bot", "redis", "qdrant"} & set(services), "single-host services leak into scale"
    for name in ("bot-1", "bot-2"):
        env = services[name]["environment"]
        assert env["TELEGRAM_MODE"] == "webhook"
        assert env["WEBHOOK_BASE_URL"].startswith("https://")
        assert env["REDIS_SENTINELS"] == "redis-sentinel:26379"
        assert env["INGEST_IN_PROCESS"] == "false"
        assert "vllm" not in services[name]["depends_on"]
    assert services["worker"]["command"] == ["worker"]
    for node in ("qdrant-1", "qdrant-2", "qdrant-3"):
        assert services[node]["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
    assert "--bootstrap" in services["qdrant-2"]["command"]
    assert "sentinel monitor kb redis-primary 6379 1" in services["redis-sentinel"]["command"][0]
    caddyfile = (REPO_ROOT / "deploy" / "Caddyfile").read_text()
    assert "bot-1:8080 bot-2:8080" in caddyfile
    assert "health_uri /readyz" in caddyfile


@pytest.mark.parametrize("profile", ["single", "scale"])
def test_every_healthcheck_runs_a_tool_its_image_has(
    profile: str, single: dict[str, Any], scale: dict[str, Any]
) -> None:
    services = (single if profile == "single" else scale)["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if name in _ONE_SHOT:
            # `disable: true`, which Compose renders as test: ["NONE"]
            assert check.get("disable") is True or check.get("test") == ["NONE"], name
            continue
        test = check["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
        tool = test[1].split()[0] if test[0] == "CMD-SHELL" else test[1]
        image = service.get("image")
        tools = (
            _OUR_IMAGE_TOOLS
            if image is None
            else next(t for prefix, t in _TOOLS_BY_IMAGE.items() if image.startswith(prefix))
        )
        assert tool in tools, f"{name}: {tool} is not in its image"
        if image is None:  # our bot: the probe must hit the port the bot serves on
            assert f":{service['environment']['HTTP_PORT']}/healthz" in test[-1], name


def test_vllm_closes_whitespace_runs_and_has_a_download_window(scale: dict[str, Any]) -> None:
    vllm = scale["services"]["vllm"]
    option = '--structured-outputs-config={"backend":"xgrammar","disable_any_whitespace":true}'
    assert option in vllm["command"]
    # ~25 GB at 100 Mbit/s is ~35 minutes; the start window must be longer.
    start = vllm["healthcheck"]["start_period"]
    minutes = int(start[:-1]) * (60 if start.endswith("h") else 1) if start[-1] in "hm" else 0
    assert minutes >= 60, start
