"""Test helpers: a ``dagster dev`` process with its GraphQL API, and headless Chromium.

Every wait is bounded, and every process started here is stopped by id: the ``dagster dev`` process
group (webserver, daemon, code servers and the run workers they launch, which share the group) and
any descendant that left it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil
import requests

from segmentation_assets.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_process_tree(process: subprocess.Popen[Any], grace_seconds: float = 1.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever of the group or its descendants is left."""
    if process.poll() is not None:
        return
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    # Nothing needs a clean shutdown (the instance and warehouse are temporary): a short grace.
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        for child in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(sig)
        _, alive = psutil.wait_procs(descendants, timeout=wait)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not alive:
            return


class DagsterDev:
    """``dagster dev -w workspace.yaml`` on a free port, started from the repository root."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )

    def stop(self) -> None:
        stop_process_tree(self.process)
        self._log.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return dict(body["data"])

    def wait_until_loaded(self, timeout: float) -> None:
        """Until the webserver answers and the code location is loaded."""

        def loaded() -> bool:
            assert self.process.poll() is None, f"dagster dev exited:\n{self.log_tail()}"
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
            except requests.RequestException:
                return False
            entries = data["workspaceOrError"]["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise AssertionError(f"code location failed to load: {error['message']}")
            return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

        wait_for(loaded, timeout, "dagster dev to load the code location", interval=1.0)

    def run_status(self, run_id: str) -> str:
        data = self.graphql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )
        return str(data["runOrError"]["status"])

    def wait_for_runs(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Until every run is finished; returns run id → final status."""

        def finished() -> dict[str, str] | None:
            statuses = {run_id: self.run_status(run_id) for run_id in run_ids}
            done = all(s in TERMINAL_RUN_STATUSES for s in statuses.values())
            return statuses if done else None

        return dict(wait_for(finished, timeout, f"runs {run_ids} to finish", interval=2.0))


def chromium(args: list[str], user_data_dir: Path, timeout: float = 90) -> str:
    """Run headless Chromium with ``args``; return its stdout. Killed as a group on timeout."""
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",  # tests run as root in a container
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={user_data_dir}",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        stop_process_tree(process, grace_seconds=2.0)
    return out
