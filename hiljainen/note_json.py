"""The one place that says what every JSON view of a note shares: the API's note, a search
result's API item and a person's data export start from note_json() and add only their own
fields, so the shared ones cannot drift apart."""

from __future__ import annotations

from typing import Any

from hiljainen.models import Observation


def note_json(note: Observation) -> dict[str, Any]:
    """The public id, the stored (redacted) text, the writer's role, the unit and touchpoint slugs,
    the day and the handling status."""
    return {
        "id": note.public_id,
        "text": note.text,
        "source": note.source.value,
        "unit": note.unit.slug if note.unit else None,
        "touchpoint": note.touchpoint.slug if note.touchpoint else None,
        "day": note.day.isoformat(),
        "status": note.status.value,
    }
