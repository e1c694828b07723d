"""API bearer tokens: shown once when issued, kept only as a SHA-256, scoped by a role."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen.errors import InvalidInput, NotFound
from hiljainen.models import ApiToken, Role, User
from hiljainen.rules import RANK

PREFIX = "hlj_"  # lets secret scanners and people recognise a leaked token
MAX_TOKEN_CHARS = 200
# What a token of each role may do through the API; the API checks these, the admin page shows them.
SCOPES = {
    Role.STAFF: ("observations:create",),
    Role.LEADER: ("observations:create", "observations:read"),
    Role.ADMIN: ("observations:create", "observations:read"),
}


def token_hash(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def issue(db: Session, name: str, role: Role, *, user: User | None = None) -> tuple[ApiToken, str]:
    """Add a token; returns it with its plaintext, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(_("Give the token a name (at most 200 characters), e.g. the system that uses it."))
    if user is not None and RANK[role] > RANK[user.role]:
        # A token must not give its user more than their own account may do.
        raise InvalidInput(
            _(
                "A token for %(user)s can have at most the role %(role)s.",
                user=user.username,
                role=user.role.value,
            )
        )
    plaintext = PREFIX + secrets.token_urlsafe(32)  # 256 bits: hashing without a salt is enough
    token = ApiToken(
        name=name, token_hash=token_hash(plaintext), role=role, user_id=user.id if user else None
    )
    db.add(token)
    db.flush()
    return token, plaintext


def verify(db: Session, plaintext: str) -> ApiToken | None:
    """The active token with this plaintext, or None (unknown, revoked, or its user deactivated)."""
    if not plaintext or len(plaintext) > MAX_TOKEN_CHARS:
        return None
    digest = token_hash(plaintext)
    # Looking up by hash leaks nothing useful through timing: the hash of a guess says nothing
    # about the real token. The final comparison is constant-time anyway.
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked:
        return None
    if token.user_id is not None:
        user = db.get(User, token.user_id)
        # A token never does more than its user may do now (a lowered role lowers its tokens).
        if user is None or not user.active or RANK[token.role] > RANK[user.role]:
            return None
    return token


def revoke(db: Session, token_id: int) -> ApiToken:
    """Refuse this token from now on (the row stays, for the record)."""
    token = db.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("No such token."))
    token.revoked = True
    db.flush()
    return token


def allows(token: ApiToken, scope: str) -> bool:
    """True when the token's role includes this scope."""
    return scope in SCOPES[token.role]
