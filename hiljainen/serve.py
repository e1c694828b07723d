"""`hiljainen serve`: the whole service on one machine, each server a supervised child process."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
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
    web_server,
    worker_process,
)


def run(settings: Settings, *, demo: bool = False) -> None:
    """Start Redis, Chroma, the worker and the web app; print their state; stop all on Ctrl-C."""
    data = settings.data_dir.resolve()
    prepare_data_dir(settings.data_dir)
    if port_in_use(settings.host, settings.port):
        raise ConfigError(f"port {settings.port} is in use; stop what uses it or set HILJAINEN_PORT")
    db.upgrade(settings.sqlalchemy_url)
    children: list[ChildServer] = []

    def stop_all(*_: object) -> None:
        for child in reversed(children):
            child.stop()

    signal.signal(signal.SIGTERM, _raise_interrupt)
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
        _watch(children)
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
            f"cannot reach Redis at {url} ({exc}); start it, fix "
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
        print(f"  {child.name:<8} {child.state:<10} {child.url}")
    print(f"\n  open {url}/")
    if demo:
        print("  demo logins: johtaja / demo-johtaja (leader), admin / demo-admin (admin)")
    print("  Ctrl-C stops everything.\n", flush=True)


def _watch(children: list[ChildServer]) -> None:
    """Report a child that dies; the others keep running so notes are still taken in."""
    reported: set[str] = set()
    while True:
        time.sleep(2)
        for child in children:
            if child.state != "running" and child.name not in reported:
                print(
                    f"  {child.name} {child.state}; see its log in the data folder",
                    file=sys.stderr,
                    flush=True,
                )
                reported.add(child.name)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
