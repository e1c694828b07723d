"""End to end: `hiljainen serve --demo` brings everything up; a leader logs in; Ctrl-C stops all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from hiljainen.services import free_port, port_in_use


class Browser:
    """A tiny cookie-keeping HTTP client that submits forms with their CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=180) as resp:
            return resp.status, resp.read().decode()

    def submit(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        _, page = self.get(path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        data = urllib.parse.urlencode({**fields, "csrf_token": token.group(1)}).encode()
        with self.opener.open(self.base + path, data=data, timeout=180) as resp:
            return resp.status, resp.read().decode()


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found.group(1)
    raise AssertionError("serve did not print the URL:\n" + "".join(seen))


@pytest.mark.slow
def test_serve_demo_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HILJAINEN_DATA_DIR": str(tmp_path / "data"),
        "HILJAINEN_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("HILJAINEN_REDIS_URL", "HILJAINEN_CHROMA_URL", "HILJAINEN_DATABASE_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hiljainen.cli", "serve", "--demo"],
        env=env,
        # started as a shell starts a background job: SIGINT ignored; Ctrl-C must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = read_until(proc, r"open (http://\S+?)/?$", timeout=600)
        browser = Browser(url)
        status, page = browser.submit("/login", {"username": "johtaja", "password": "demo-johtaja"})
        assert status == 200 and "Tilannekuva" in page, "the leader lands on the dashboard"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the worker analyses the demo notes
            with urllib.request.urlopen(url + "/healthz/details", timeout=180) as resp:
                health = json.loads(resp.read())
            if health["database"]["unprocessed_notes"] == 0:
                break
            time.sleep(2)
        assert health["status"] == "ok", health
        assert health["chroma"]["vectors"] > 300 and health["workers"]["count"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)  # each child gets 10 s before it is killed
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            logs = {name: (tmp_path / "data" / name).read_text(errors="replace")[-3000:]
                    for name in ("children.json", "worker.log", "web.log")
                    if (tmp_path / "data" / name).is_file()}
            raise AssertionError(f"serve did not stop within 60 s:\n{out}\n{logs}") from None
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert not port_in_use("127.0.0.1", port)
