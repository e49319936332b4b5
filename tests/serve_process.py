"""``zkmargin serve`` in a subprocess on a free loopback port, for the tests and the service
benchmark: started in its own session from this checkout's code, ready once its workers are up
and ``/v1/health`` answers, stopped with SIGTERM (SIGKILL after 30 s).

Imported after ``sys.path.insert(0, tests/)`` (``tests/test_service_scale.py``,
``benchmarks/bench_service.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``zkmargin serve -p POLICY -m MARKET --clients CLIENTS --log-key KEY --workers N ARGS...``."""

    def __init__(self, policy: Path, market: Path, clients: Path, key_file: Path, *, workers: int,
                 args: list[str], err: Path, timeout: float = 120):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.err = err
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zkmargin.cli", "serve", "-p", str(policy), "-m", str(market),
             "--clients", str(clients), "--log-key", str(key_file), "--workers", str(workers),
             "--port", str(self.port), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=open(err, "w"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zkmargin serve exited: {err.read_text()[-2000:]}")
            try:
                up = len(self.worker_pids()) >= workers
                if up and httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"zkmargin serve did not start within {timeout:.0f} s")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (not multiprocessing's resource tracker); with one worker,
        uvicorn serves in the process itself."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        pids = []
        for p in out:
            try:
                if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text():
                    pids.append(int(p))
            except OSError:
                pass  # the child ended between pgrep and the read
        return pids or [self.proc.pid]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
