"""Proxy headers through the real web server: `hiljainen web` serves the app with waitress and the
service's WAITRESS options, and waitress deletes X-Forwarded-For and Forwarded unless told
otherwise. The app alone decides what to believe of them (HILJAINEN_TRUSTED_PROXIES, and
/healthz/details refuses whatever came through a proxy), so they must reach it: the Flask test
client, which other tests use, never meets waitress.

The app runs in this process under waitress on a free loopback port, with the session's Redis and a
fresh SQLite file.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from urllib.parse import urlencode

from waitress import create_server

from hiljainen import create_app
from hiljainen.config import Settings
from hiljainen.services import WAITRESS
from tests.conftest import make_org


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app for `settings` under waitress as `hiljainen web` runs it; yields its base URL."""
    app = create_app(settings)
    make_org(app)  # the unit koivukoti and its public form /t/ruokasali
    server = create_server(app, host="127.0.0.1", port=0, ident="hiljainen", **WAITRESS)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(timeout=10)


def get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def public_note(base: str, visitor: str, text: str) -> int:
    """Send a note on the public form as one visitor behind the proxy (its own cookies)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    headers = {"X-Forwarded-For": visitor}
    with opener.open(urllib.request.Request(base + "/t/ruokasali", headers=headers), timeout=30) as resp:
        page = resp.read().decode()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:300]
    form = urlencode({"csrf_token": found.group(1), "text": text, "role": "customer"}).encode()
    try:
        with opener.open(urllib.request.Request(base + "/t/ruokasali", form, headers), timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_each_visitor_behind_a_trusted_proxy_has_a_limit_of_their_own(settings: Settings) -> None:
    """HILJAINEN_TRUSTED_PROXIES=1: without X-Forwarded-For every visitor had the proxy's address,
    so one flood (or 20 wrong passwords) closed the public forms (or the login) for everyone."""
    # Its own secret: the limit's Redis keys meet no other test's counts.
    secret = f"proxy-headers-{settings.data_dir.parent.name}"
    trusted = dataclasses.replace(settings, trusted_proxies=1, public_rate_limit=2, secret_key=secret)
    with served(trusted) as base:
        codes = [public_note(base, "203.0.113.10", f"Palaute numero {i}") for i in range(3)]
        assert codes == [201, 201, 429]
        assert public_note(base, "203.0.113.20", "Toinen kävijä kirjoittaa") == 201


def test_health_details_are_refused_to_what_came_through_a_proxy(settings: Settings) -> None:
    """A reverse proxy on the machine itself connects from loopback: only its headers tell that the
    request came from elsewhere."""
    with served(settings) as base:
        assert get(base + "/healthz/details", {}) == 200, "a direct loopback connection"
        assert get(base + "/healthz/details", {"X-Forwarded-For": "203.0.113.9"}) == 404
        assert get(base + "/healthz/details", {"Forwarded": "for=203.0.113.9"}) == 404
