"""The web process under a crowd of slow clients, and what the job queue keeps (issue 22: 3, 7).

Real children as `hiljainen serve` runs them: `hiljainen web` under waitress with the session's
Redis and Chroma servers, on SQLite.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
import redis
from rq import Queue

from hiljainen import db
from hiljainen.services import (
    ChildServer,
    chroma_server,
    free_port,
    prepare_data_dir,
    redis_server,
    shown_url,
    web_server,
)
from hiljainen.stores import queue
from tests.conftest import redis_db


def test_half_open_connections_do_not_starve_the_web_process(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer
) -> None:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    db.upgrade(url)
    port = free_port()
    env = {
        "HILJAINEN_DATABASE_URL": url,
        "HILJAINEN_REDIS_URL": redis_srv.url,
        "HILJAINEN_CHROMA_URL": chroma_srv.url,
        "HILJAINEN_DATA_DIR": str(tmp_path / "data"),
        "HILJAINEN_SECRET_KEY": "test-secret",
        "HILJAINEN_HOST": "127.0.0.1",
        "HILJAINEN_PORT": str(port),
    }
    web = web_server("127.0.0.1", port, env, tmp_path / "web.log")
    sockets: list[socket.socket] = []
    try:
        web.start(timeout=180)
        # 150 clients that open a connection and send half a request (the probe stalled /healthz
        # for 15 s with 120: waitress's default limit is 100 connections).
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(s)
        with urllib.request.urlopen(f"{web.url}/healthz?quick=1", timeout=60) as resp:
            assert resp.status == 200
        # Answered while every slow client still held its connection (not after the server dropped
        # some of them to make room): each socket is open, with nothing to read.
        for s in sockets:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
    finally:
        for s in sockets:
            s.close()
        web.stop()


def test_job_records_expire_soon(redis_srv: ChildServer) -> None:
    # A job record keeps the exact times it was queued, started and ended: it must not stay a year.
    conn = redis.Redis.from_url(redis_db(redis_srv.url, 12))
    conn.flushdb()
    queue.enqueue_process(conn, 3)
    (job,) = Queue(queue.QUEUE_NAME, connection=conn).jobs
    assert job.result_ttl is not None and 0 < job.result_ttl <= 3600
    assert job.failure_ttl is not None and 0 < job.failure_ttl <= 2 * 24 * 3600
    conn.flushdb()


def test_serve_restarts_a_dead_child_with_backoff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hiljainen.serve import BACKOFF_FIRST, Restarts, supervise, write_status

    child = redis_server(tmp_path)
    restarts: dict[str, Restarts] = {}
    try:
        child.start()
        conn = redis.Redis.from_url(child.url, socket_connect_timeout=2)
        assert conn.ping()
        assert child.process is not None
        child.process.kill()
        child.process.wait()
        supervise([child], restarts, now=100.0)
        assert child.state == "running" and conn.ping(), "the dead Redis was started again, same address"
        assert "redis exited (-9); restarting it (attempt 1)" in capsys.readouterr().err

        # It dies again at once: the next attempt waits for the backoff, then doubles it.
        child.process.kill()
        child.process.wait()
        supervise([child], restarts, now=100.0 + BACKOFF_FIRST / 2)
        assert child.state != "running"
        supervise([child], restarts, now=100.0 + BACKOFF_FIRST)
        assert child.state == "running" and conn.ping()
        assert restarts["redis"].count == 2
        assert restarts["redis"].next_try == 100.0 + BACKOFF_FIRST + 2 * BACKOFF_FIRST
        assert "restarted" in capsys.readouterr().err
        write_status(tmp_path / "children.json", [child], restarts)
        status = json.loads((tmp_path / "children.json").read_text())
        assert status == {"redis": {"state": "running", "restarts": 2}}
    finally:
        child.stop()


def test_the_embedded_redis_asks_for_a_password_that_no_command_line_shows(tmp_path: Path) -> None:
    """Without a password any local account could reach the queue on loopback and have the worker
    run a pickled job as the service's user (found on a running instance)."""
    with redis_server(tmp_path).start() as server:
        port = redis.Redis.from_url(server.url).connection_pool.connection_kwargs["port"]
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        assert redis.Redis.from_url(server.url).ping()
        password = redis.Redis.from_url(server.url).connection_pool.connection_kwargs["password"]
        assert password and password not in " ".join(server.argv)
        assert (tmp_path / "redis.conf").stat().st_mode & 0o077 == 0
        assert password not in shown_url(server.url) and "127.0.0.1" in shown_url(server.url)


def test_the_data_folder_is_its_owners_alone(tmp_path: Path) -> None:
    """Chroma's files, the logs and the outbox (theme names quoted from notes) were readable by
    every local account."""
    made, existing = tmp_path / "new" / "data", tmp_path / "old"
    existing.mkdir(mode=0o755)
    for folder in (made, existing):
        prepare_data_dir(folder)
        assert folder.stat().st_mode & 0o077 == 0, folder


def test_chroma_does_not_log_each_request(tmp_path: Path) -> None:
    """At INFO the Chroma server logged every request to the microsecond, dating each note's vector."""
    with chroma_server(tmp_path).start() as server:
        listed = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections"
        for _ in range(3):
            with urllib.request.urlopen(listed, timeout=10) as resp:
                assert resp.status == 200
    log = (tmp_path / "chroma.log").read_text(encoding="utf-8", errors="replace")
    assert "collections" not in log and "HTTP request" not in log
