"""`hiljainen serve` and friends: bad configuration ends in one line that says what to fix."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from hiljainen.services import free_port, port_in_use, redis_server


def hiljainen(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hiljainen.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_unreachable_redis_url(tmp_path: Path) -> None:
    result = hiljainen(
        "serve",
        env={
            "HILJAINEN_DATA_DIR": str(tmp_path),
            "HILJAINEN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "HILJAINEN_PORT": str(free_port()),
        },
    )
    assert_one_line_error(result, "HILJAINEN_REDIS_URL")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_folder_as_user(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    result = hiljainen("serve", env={"HILJAINEN_DATA_DIR": str(locked / "data")})
    assert_one_line_error(result, "HILJAINEN_DATA_DIR")


def test_data_folder_that_is_a_file(tmp_path: Path) -> None:
    # Unwritable for root too: a path below a regular file.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = hiljainen("serve", env={"HILJAINEN_DATA_DIR": str(blocker / "data")})
    assert_one_line_error(result, "HILJAINEN_DATA_DIR")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = hiljainen("serve", env={"HILJAINEN_DATA_DIR": str(tmp_path), "HILJAINEN_PORT": str(port)})
    assert_one_line_error(result, "HILJAINEN_PORT", str(port))


def test_invalid_setting_value(tmp_path: Path) -> None:
    result = hiljainen("serve", env={"HILJAINEN_DATA_DIR": str(tmp_path), "HILJAINEN_PORT": "x"})
    assert_one_line_error(result, "HILJAINEN_PORT")


def test_child_server_starts_and_stops_cleanly(tmp_path: Path) -> None:
    server = redis_server(tmp_path).start()
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    assert server.state == "running" and port_in_use("127.0.0.1", port)
    server.stop()
    assert server.state.startswith("exited") and not port_in_use("127.0.0.1", port)


def test_the_web_process_loads_its_models_before_the_first_note(app: Flask) -> None:
    # Without it the first note after a start waited 15 s for the redaction models.
    from hiljainen import resources

    resources.warm_up(app).join(timeout=300)
    loaded = app.extensions["hiljainen"]._cache
    assert "redactor" in loaded and "embedder" in loaded
