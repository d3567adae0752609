"""The Docker image's install and entry steps, run outside Docker (no engine here) against the fake Bot API.
Only the entry test builds the image's environment (marked `docker`); the others read files.

The test reads the Dockerfile itself: the install script its build stage runs, the final stage's ENV,
ENTRYPOINT + CMD and HEALTHCHECK, so a change to the image is a change to what is tested.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_telegram import FakeTelegram
from tests.helpers import ROOT


def final_stage(dockerfile: str) -> str:
    return dockerfile.split("\nFROM ")[-1]


def instruction(stage: str, name: str) -> str:
    """The text of an instruction in a stage, continuation lines joined."""
    joined = stage.replace("\\\n", " ")
    [line] = [line for line in joined.splitlines() if line.startswith(name + " ")]
    return line[len(name) + 1 :].strip()


def environment(stage: str) -> dict[str, str]:
    pairs = re.findall(r"(\w+)=(\S+)", instruction(stage, "ENV"))
    return dict(pairs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment made by the very script the image's build stage runs."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    run = instruction(dockerfile.split("\nFROM ")[1], "RUN")
    assert "sh docker/install.sh /opt/venv /src" in run
    venv = tmp_path_factory.mktemp("image") / "venv"
    env = {
        k: v for k, v in os.environ.items() if k != "TORCH_INDEX_URL"
    }  # the local CPU wheel, not the CPU index
    subprocess.run(
        ["sh", str(ROOT / "docker" / "install.sh"), str(venv), str(ROOT)],
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return venv


def test_dockerfile_promises() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stage = final_stage(dockerfile)
    assert dockerfile.count("\nFROM ") == 2 and "AS build" in dockerfile, "multi-stage"
    assert re.search(r"^USER \d+:\d+$", stage, re.MULTILINE), "numeric non-root user"
    assert json.loads(instruction(stage, "ENTRYPOINT")) == ["footnote"], (
        "exec form, so SIGTERM reaches Python"
    )
    assert json.loads(instruction(stage, "CMD")) == ["bot"]
    env = environment(stage)
    assert env["HF_HUB_OFFLINE"] == "1" and env["FOOTNOTE_INDEX_DIR"].startswith("/data")
    assert "TOKEN" not in stage.replace("FOOTNOTE_BOT_TOKEN", ""), "no secrets in the image"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    assert ignored.splitlines()[1] == "*", "everything is excluded unless listed (.venv, data/, .env)"
    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for promise in (
        "read_only: true",
        "tmpfs:",
        "restart: unless-stopped",
        "stop_grace_period",
        "/data",
        "env_file",
    ):
        assert promise in compose


def test_scale_compose_promises() -> None:
    """compose.scale.yaml, as Docker Compose itself reads it: two replicas on one volume and one Milvus."""
    compose = Path(sys.executable).parent / "docker-compose"
    result = subprocess.run(
        [str(compose), "-f", str(ROOT / "compose.scale.yaml"), "config", "--format", "json"],
        env={**os.environ, "FOOTNOTE_DOMAIN": "bot.example.org"},
        capture_output=True,
        text=True,
        check=True,
    )
    services = json.loads(result.stdout)["services"]
    replicas = [services["footnote-1"], services["footnote-2"]]
    for replica in replicas:
        env = replica["environment"]
        assert (
            env["FOOTNOTE_VECTOR_STORE"] == "milvus" and env["FOOTNOTE_MILVUS_URI"] == "http://milvus:19530"
        )
        assert env["FOOTNOTE_WEBHOOK_URL"] == "https://bot.example.org/telegram"
        assert env["FOOTNOTE_HEARTBEAT_FILE"].startswith("/tmp/"), "each replica's own heartbeat"
        assert [(v["source"], v["target"]) for v in replica["volumes"]] == [("footnote-data", "/data")]
        assert replica["read_only"] and replica["depends_on"]["milvus"]["condition"] == "service_healthy"
        assert "ports" not in replica, "only the load balancer is reachable from outside"
    for internal in ("milvus", "etcd", "minio"):
        assert "ports" not in services[internal], f"{internal} is not published on the host"
    assert services["milvus"]["healthcheck"]["test"][-1].endswith("/healthz")
    proxy = services["proxy"]
    assert {p["target"] for p in proxy["ports"]} == {80, 443}
    assert proxy["environment"]["FOOTNOTE_REPLICAS"] == "footnote-1:8443 footnote-2:8443"
    assert any(v["target"] == "/etc/caddy/Caddyfile" for v in proxy["volumes"])


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.docker
def test_image_entry_and_healthcheck_outside_docker(
    installed: Path, fake: FakeTelegram, tmp_path: Path
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stage = final_stage(dockerfile)
    data = tmp_path / "data"
    data.mkdir()

    def here(value: str) -> str:
        return (
            value.replace("/opt/venv", str(installed))
            .replace("/app/seeds", str(ROOT / "seeds"))
            .replace("/data", str(data))
            .replace("$PATH", os.environ["PATH"])
            .replace("HOME=/tmp", f"HOME={tmp_path}")
        )

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTNOTE_")}
    env.update({key: here(value) for key, value in environment(stage).items()})
    env["HOME"] = str(tmp_path)
    env.update(
        {"FOOTNOTE_BOT_TOKEN": fake.token, "FOOTNOTE_BOT_API_URL": fake.base_url, "FOOTNOTE_ADMIN_IDS": "900"}
    )
    command = json.loads(instruction(stage, "ENTRYPOINT")) + json.loads(instruction(stage, "CMD"))
    health = json.loads(instruction(stage, "HEALTHCHECK").split("CMD", 1)[1])
    assert command[0] == health[0] == "footnote"
    footnote = str(installed / "bin" / "footnote")

    process = subprocess.Popen(
        [footnote, *command[1:]], env=env, cwd=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        fake.wait_for("setMyCommands", timeout=180)
        fake.push_message("Why did Moscow refuse?")
        [answer] = fake.wait_for("sendMessage", timeout=60)
        assert "The official motivation" in answer.params["text"]
        checked = subprocess.run(
            [footnote, *health[1:]],
            env=env,
            cwd=data,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.startswith("ok: 1 articles indexed")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert "copied 1 article(s)" in out and "index updated: added 1" in out, (
        "first start builds from baked seeds"
    )
    assert (data / "seeds" / "iskander-in-belarus-never-ever.txt").exists()
    assert fake.token not in out + err

    again = subprocess.run(
        [footnote, "index"], env=env, cwd=data, capture_output=True, text=True, timeout=120, check=False
    )
    assert "index up to date" in again.stdout, "later starts reuse the index on the volume"

    stopped_long_ago = time.time() - 60
    os.utime(data / "heartbeat", (stopped_long_ago, stopped_long_ago))
    stale = subprocess.run(
        [footnote, *health[1:]],
        env={**env, "FOOTNOTE_HEARTBEAT_MAX_AGE": "1"},
        cwd=data,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stale.returncode == 1 and "heartbeat" in stale.stderr, "a stopped bot reads as unhealthy"

    upgraded = subprocess.run(
        [footnote, "index"],
        env={**env, "FOOTNOTE_EMBEDDER": "hashing"},
        cwd=data,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "full rebuild: the index was built with embedder" in upgraded.stderr, (
        "an embedder change is announced"
    )
