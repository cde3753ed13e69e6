"""Cross-silo mode on one machine: a SuperLink and SuperNodes over TLS on loopback.

The production layout runs one `flower-superlink` (the coordinator) and one
`flower-supernode` inside each firm; `flwr run` submits `flower_app/` (whose components
are `apps.server_app` and `apps.client_app`) to the SuperLink's Control API. `LocalFederation`
starts that same layout as local processes for tests and demos: every connection (Fleet
API between SuperNodes and SuperLink, Control API between `flwr run` and SuperLink) uses
TLS with the certificates given; only the SuperLink's internal ServerAppIo and the
SuperNodes' ClientAppIo APIs stay on loopback without TLS, as in Flower's default layout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from dalrn_core.errors import InputError

APP_DIR = Path(__file__).resolve().parent / "flower_app"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate everyone trusts, and the SuperLink's cert and key."""

    ca: Path
    cert: Path
    key: Path


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # an AF_INET socket's name is (host, port)
        return port


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@dataclass
class LocalFederation:
    """A SuperLink and `n_silos` SuperNodes as child processes (use as a context manager).

    Parameters
    ----------
    tls : TlsFiles
    workdir : Path
        Logs, and the Flower CLI's home (its SuperLink connection is written there).
    n_silos : int
        SuperNodes started, with node config partition-id = 0..n-1.
    env : dict, optional
        Extra environment for every process (e.g. DALRN_HOME).
    """

    tls: TlsFiles
    workdir: Path
    n_silos: int = 3
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.n_silos <= 64:
            raise InputError.one("n_silos", "must be between 1 and 64")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fleet_port, self.control_port, self.appio_port = (free_port() for _ in range(3))
        bin_dir = str(Path(sys.executable).parent)
        self._env = {**os.environ, **self.env,
                     # The SuperLink and SuperNodes spawn Flower's helper executables,
                     # which live beside this interpreter, and import the dalrn package.
                     "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                     "PYTHONPATH": str(_REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                     "FLWR_HOME": str(self.workdir / "flwr-home")}
        self._bin = Path(bin_dir)

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the child)
        # A new session per child, so stop() can end the child and the helpers it spawned.
        self.processes.append(subprocess.Popen(
            [str(self._bin / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
            env=self._env, cwd=self.workdir, start_new_session=True))

    def start(self, timeout: float = 120.0) -> Self:
        deadline = time.monotonic() + timeout
        self._start("superlink", [
            "flower-superlink", "--ssl-ca-certfile", str(self.tls.ca),
            "--ssl-certfile", str(self.tls.cert), "--ssl-keyfile", str(self.tls.key),
            "--fleet-api-address", f"127.0.0.1:{self.fleet_port}",
            "--control-api-address", f"127.0.0.1:{self.control_port}",
            "--serverappio-api-address", f"127.0.0.1:{self.appio_port}",
            # No network at run time: the app's dependencies are already installed.
            "--disable-runtime-dependency-installation"])
        _wait_for_port(self.fleet_port, deadline)
        _wait_for_port(self.control_port, deadline)
        for silo in range(self.n_silos):
            self._start(f"supernode-{silo}", [
                "flower-supernode", "--root-certificates", str(self.tls.ca),
                "--superlink", f"127.0.0.1:{self.fleet_port}",
                "--clientappio-api-address", f"127.0.0.1:{free_port()}",
                "--node-config", f"partition-id={silo} num-partitions={self.n_silos}"])
        self._write_connection()
        return self

    def _write_connection(self) -> None:
        home = self.workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "dalrn"\n\n[superlink.dalrn]\n'
            f'address = "127.0.0.1:{self.control_port}"\n'
            f'root-certificates = "{self.tls.ca}"\n')

    def run_app(self, run_config: dict[str, object] | None = None,
                timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """`flwr run flower_app dalrn --stream` over TLS; returns when the run ends."""
        overrides = " ".join(f"{k}={_toml(v)}" for k, v in (run_config or {}).items())
        command = [str(self._bin / "flwr"), "run", str(APP_DIR), "dalrn", "--stream"]
        if overrides:
            command += ["--run-config", overrides]
        # check=False: the caller reads the return code and the output of a failed run.
        return subprocess.run(command, env=self._env, cwd=self.workdir, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        """End every process this federation started (and their helper children)."""
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
