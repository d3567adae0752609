"""The real Milvus standalone server (Go and C++, embedded etcd) from the `milvus` PyPI package, on loopback.

    python -m tests.milvus_server DATA_DIR     # prints "ready <uri>", serves until SIGTERM or stdin closes

Its config template leaves every component's `ip` empty, which makes them advertise (and talk over) the
machine's first network address; they are set to 127.0.0.1 here. Milvus 2.3.5 has no setting for the
address its ports listen on, so they listen on every interface of the machine running the tests.
The server runs under a small supervisor process of its own, so the `milvus` package's leftovers (it
leaves probe sockets open) stay out of the test process.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running_milvus(base_dir: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start a Milvus standalone server with its data in `base_dir`; yields its URI; stops it after."""
    began = time.monotonic()
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "tests.milvus_server", str(base_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert supervisor.stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(supervisor.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].startswith("ready "):
            raise RuntimeError(f"Milvus did not start within {timeout:.0f} s; see {base_dir}/logs")
        uri = ready[0].split()[1]
        print(f"Milvus {uri} started in {time.monotonic() - began:.1f} s (data in {base_dir})")
        yield uri
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(30)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait(10)
        for pipe in (supervisor.stdin, supervisor.stdout):
            if pipe is not None:
                pipe.close()


def serve(base_dir: Path) -> None:
    """Run the server until SIGTERM or until the parent closes stdin."""
    from milvus import MilvusServer

    server = MilvusServer()
    server.set_base_dir(str(base_dir))
    for component in COMPONENTS:
        server.config.set(f"{component}.ip", "127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    server.start()
    try:
        print(f"ready http://127.0.0.1:{server.listen_port}", flush=True)
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
