"""Named exceptions; the web edge turns them into HTTP answers, the CLI into one-line errors."""

from __future__ import annotations


class HiljainenError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(HiljainenError):
    """A setting is invalid or a resource it names cannot be used."""


class InvalidInput(HiljainenError):
    """Input was rejected; the message is safe to show to the person who sent it."""


class NotFound(HiljainenError):
    """The thing asked for does not exist (or may not be seen by this caller)."""


class ServiceUnavailable(HiljainenError):
    """A backing service (Redis, Chroma) cannot be reached right now."""


class ModelMismatch(HiljainenError):
    """The vector index was built with another embedding model than the one configured."""
