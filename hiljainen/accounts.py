"""Accounts: create one with a hashed password, check a password (the login page, the CLI, the demo),
and change what an account may do: a new password, a new role or disabling it ends every login
session of the account (its session key is replaced); an admin's password reset, a new role or
disabling it also takes back API tokens it may no longer hold."""

from __future__ import annotations

import functools

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hiljainen.errors import InvalidInput
from hiljainen.models import ApiToken, Role, User, new_session_key
from hiljainen.rules import RANK, queryable

MIN_PASSWORD = 10

# How passwords are hashed: werkzeug's scrypt at its default cost (N 2^15, r 8, p 1), ~0.1 s a hash.
HASH_METHOD = "scrypt:32768:8:1"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def create_user(
    db: Session,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    unit_id: int | None = None,
) -> User:
    """Add a user with a hashed password; raises InvalidInput for a weak password or a taken name."""
    username = username.strip().lower()
    if not username:
        raise InvalidInput(_("Username is required."))
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(_("The password must be at least %(n)d characters.", n=MIN_PASSWORD))
    if db.scalar(select(User).where(User.username == username)):
        raise InvalidInput(_("The username %(name)s is taken.", name=username))
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        unit_id=unit_id,
    )
    db.add(user)
    db.flush()
    return user


def _dummy_hash() -> str:
    """A hash no password matches, made at today's cost, so checking it costs what a real check does."""
    return _dummy_hash_at(HASH_METHOD)


@functools.cache
def _dummy_hash_at(method: str) -> str:
    return generate_password_hash("no account has this password", method=method)


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. An unknown name costs one password hash
    too, so the time of the answer does not tell which usernames exist."""
    name = username.strip().lower()
    user = db.scalar(select(User).where(User.username == name)) if queryable(name) else None
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def end_sessions(db: Session, user: User) -> None:
    """End every login session of this account, on every device (a new session key)."""
    user.session_key = new_session_key()
    db.flush()


def set_password(db: Session, user: User, password: str) -> None:
    """A new password; every session started with the old one ends."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(_("The password must be at least %(n)d characters.", n=MIN_PASSWORD))
    user.password_hash = hash_password(password)
    end_sessions(db, user)


def reset_password(db: Session, user: User, password: str) -> list[int]:
    """An admin's reset: a new password, the sessions end, and all the account's API tokens are
    revoked, since a reset is how an account that may be compromised is taken back, and a token
    taken with it would outlive the new password. Returns the ids of the revoked tokens."""
    set_password(db, user, password)
    return _revoke_tokens(db, user)


def change_role(db: Session, user: User, role: Role) -> list[int]:
    """Give the account another role: its sessions end, and its API tokens with more rights than
    the new role are revoked. Returns the ids of the revoked tokens."""
    user.role = role
    end_sessions(db, user)
    tokens = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False)))
    revoked = [t.id for t in tokens if RANK[t.role] > RANK[role]]
    if revoked:
        db.execute(update(ApiToken).where(ApiToken.id.in_(revoked)).values(revoked=True))
    db.flush()
    return revoked


def disable_user(db: Session, user: User) -> list[int]:
    """Stop the account: no login, its sessions end, all its API tokens are revoked.
    Returns the ids of the revoked tokens."""
    user.active = False
    end_sessions(db, user)
    return _revoke_tokens(db, user)


def _revoke_tokens(db: Session, user: User) -> list[int]:
    """Revoke every API token the account holds; returns their ids."""
    revoked = list(
        db.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False)))
    )
    if revoked:
        db.execute(update(ApiToken).where(ApiToken.id.in_(revoked)).values(revoked=True))
    db.flush()
    return revoked
