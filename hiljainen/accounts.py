"""Accounts: create one with a hashed password, check a password (the login page, the CLI, the demo)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hiljainen.errors import InvalidInput
from hiljainen.models import Role, User
from hiljainen.rules import queryable

MIN_PASSWORD = 10



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
        password_hash=generate_password_hash(password),
        role=role,
        display_name=display_name or username,
        unit_id=unit_id,
    )
    db.add(user)
    db.flush()
    return user



def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    name = username.strip().lower()
    user = db.scalar(select(User).where(User.username == name)) if queryable(name) else None
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user
