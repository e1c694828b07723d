"""`hiljainen serve`: the whole service on one machine, each server a supervised child process."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import redis

from hiljainen import db
from hiljainen.config import Settings
from hiljainen.errors import ConfigError
from hiljainen.services import (
    ChildServer,
    chroma_server,
    port_in_use,
    prepare_data_dir,
    redis_server,
    shown_url,
    web_server,
    worker_process,
)


def run(settings: Settings, *, demo: bool = False) -> None:
    """Start Redis, Chroma, the worker and the web app; print their state; stop all on Ctrl-C."""
    data = settings.data_dir.resolve()
    os.umask(0o077)  # what this service and its children write (logs, Chroma, outbox) is the owner's
    prepare_data_dir(settings.data_dir)
    if port_in_use(settings.host, settings.port):
        raise ConfigError(f"port {settings.port} is in use; stop what uses it or set HILJAINEN_PORT")
    db.upgrade(settings.sqlalchemy_url)
    children: list[ChildServer] = []

    def stop_all(*_: object) -> None:
        for child in reversed(children):
            child.stop()

    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C stops everything even when serve inherited SIGINT ignored (a shell starting it in
    # the background does that, and Python then never turns SIGINT into KeyboardInterrupt).
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        redis_url = settings.redis_url or _start(children, redis_server(data)).url
        _check_redis(redis_url)
        chroma_url = settings.chroma_url or _start(children, chroma_server(data)).url
        settings = replace(settings, redis_url=redis_url, chroma_url=chroma_url, data_dir=data)
        env = _child_env(settings)
        if demo:
            from hiljainen.tools.demo import load_demo

            load_demo(settings)
        _start(children, worker_process(env, data / "worker.log", _worker_ready(redis_url)), timeout=300)
        web = _start(children, web_server(settings.host, settings.port, env, data / "web.log"), timeout=120)
        _print_state(children, web.url, demo)
        _watch(children, data / CHILDREN_STATUS)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        stop_all()
    print("stopped", flush=True)


def _start(children: list[ChildServer], child: ChildServer, timeout: float = 60) -> ChildServer:
    print(f"  starting {child.name}…", flush=True)
    children.append(child)
    return child.start(timeout=timeout)


def _child_env(settings: Settings) -> dict[str, str]:
    """Children read the same settings from the environment, with the servers' URLs filled in."""
    return {
        "HILJAINEN_DATA_DIR": str(settings.data_dir),
        "HILJAINEN_DATABASE_URL": settings.sqlalchemy_url,
        "HILJAINEN_REDIS_URL": settings.redis_url,
        "HILJAINEN_CHROMA_URL": settings.chroma_url,
        "HILJAINEN_HOST": settings.host,
        "HILJAINEN_PORT": str(settings.port),
    }


def _check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.RedisError, ValueError) as exc:
        raise ConfigError(
            f"cannot reach Redis at {shown_url(url)} ({exc}); start it, fix "
            "HILJAINEN_REDIS_URL, or unset it to use the embedded server"
        ) from None


def _worker_ready(url: str):  # type: ignore[no-untyped-def]
    def ready() -> bool:
        from rq import Worker

        try:
            return bool(Worker.all(connection=redis.Redis.from_url(url)))
        except redis.RedisError:
            return False

    return ready


def _print_state(children: list[ChildServer], url: str, demo: bool) -> None:
    print("\nHiljainen is running:", flush=True)
    for child in children:
        print(f"  {child.name:<8} {child.state:<10} {shown_url(child.url)}")
    print(f"\n  open {url}/")
    if demo:
        print("  demo logins: johtaja / demo-johtaja (leader), admin / demo-admin (admin)")
    print("  Ctrl-C stops everything.\n", flush=True)


CHILDREN_STATUS = "children.json"  # in the data folder, written by the supervisor
RESTART_TIMEOUTS = {"worker": 300.0, "web": 120.0}  # seconds a restarted child may take to be ready
BACKOFF_FIRST = 2.0  # seconds before the second restart of a child; doubles each time
BACKOFF_MAX = 300.0
STABLE_AFTER = 120.0  # a child running this long since its last restart starts its count afresh


@dataclass
class Restarts:
    """How often a child has been restarted lately, and when it may be tried next."""

    count: int = 0
    last: float = 0.0
    next_try: float = 0.0


def supervise(children: list[ChildServer], restarts: dict[str, Restarts], now: float) -> None:
    """Restart each child that has died, with backoff (2 s, 4 s, 8 s ... up to 5 minutes between
    attempts), and say so on stderr. Web requests meanwhile see /healthz degraded; notes are kept
    in SQL and the worker's sweep queues them once Redis is back."""
    for child in children:
        record = restarts.setdefault(child.name, Restarts())
        if child.state == "running":
            if record.count and now - record.last > STABLE_AFTER:
                restarts[child.name] = Restarts()
            continue
        if now < record.next_try:
            continue
        record.count += 1
        record.last = now
        record.next_try = now + min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (record.count - 1))
        print(
            f"  {child.name} {child.state}; restarting it (attempt {record.count})",
            file=sys.stderr,
            flush=True,
        )
        try:
            child.start(timeout=RESTART_TIMEOUTS.get(child.name, 60.0))
        except ConfigError as exc:
            wait = record.next_try - now
            print(
                f"  {child.name} did not restart: {exc}; next try in {wait:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(f"  {child.name} restarted", file=sys.stderr, flush=True)


def write_status(path: Path, children: list[ChildServer], restarts: dict[str, Restarts]) -> None:
    """The children's states and restart counts, for /healthz/details to show."""
    status = {
        c.name: {"state": c.state, "restarts": restarts.get(c.name, Restarts()).count} for c in children
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(path)


def _watch(children: list[ChildServer], status_path: Path) -> None:
    """Restart a child that dies (with backoff); the others keep running so notes are still taken in."""
    restarts: dict[str, Restarts] = {}
    while True:
        write_status(status_path, children, restarts)
        time.sleep(2)
        supervise(children, restarts, time.monotonic())


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
