"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

import functools
from typing import Any

from flask import jsonify

from hiljainen import intake, resources
from hiljainen.models import PUBLIC_ID_ALPHABET, PUBLIC_ID_LENGTH, Source, Status
from hiljainen.rules import SHOWN_TONES, SLUG_MAX
from hiljainen.web.api import bp
from hiljainen.web.api.observations import DEFAULT_LIMIT, MAX_LIMIT, TAG_MAX

# The same rules as intake.clean_text, for clients and fuzzers: no control characters (tabs and
# line breaks are fine), no U+FFFD left by a broken decoder, at least one visible character.
_FORBIDDEN = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f\\ufffd"


def _char_class(code_points: list[int]) -> str:
    """Runs of code points as a character class's ranges, in escapes Python's re reads."""
    def esc(c: int) -> str:
        return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"

    runs: list[list[int]] = []
    for c in code_points:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in runs)


@functools.cache
def text_pattern() -> str:
    """A note's text pattern; "visible" is what intake.is_blank does not count as showing nothing
    (spaces, format characters, Hangul fillers), read off every code point once (about a second)."""
    invisible = _char_class([c for c in range(0x110000) if intake.is_blank(chr(c))])
    return f"^[^{_FORBIDDEN}]*[^{invisible}{_FORBIDDEN}][^{_FORBIDDEN}]*$"

TAG_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return jsonify(openapi_spec(resources.get().settings.max_note_chars))


def openapi_spec(max_chars: int) -> dict[str, Any]:
    """The OpenAPI 3.1 description of /api/v1, with this deployment's note length limit."""
    error = {"$ref": "#/components/responses/Error"}
    source = {"type": "string", "enum": [s.value for s in Source]}
    status = {"type": "string", "enum": [s.value for s in Status]}
    date = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    slug = {"type": ["string", "null"], "maxLength": SLUG_MAX}
    public_id = {
        "type": "string",
        "pattern": f"^[{PUBLIC_ID_ALPHABET}]{{{PUBLIC_ID_LENGTH}}}$",
        "description": "The note's public id: random, so ids say nothing of the order notes came in.",
    }
    note: dict[str, Any] = {
        "type": "object",
        "required": [
            "id", "text", "source", "unit", "touchpoint", "day", "tags", "anonymous", "author",
            "status", "redactions", "lang", "processed", "theme_id",
        ],
        "properties": {
            "id": public_id,
            "text": {"type": "string", "description": "The note with personal data replaced by markers."},
            "source": source,
            "unit": {"type": ["string", "null"]},
            "touchpoint": {"type": ["string", "null"]},
            "day": date,
            "tags": {"type": "array", "items": {"type": "string"}},
            "anonymous": {"type": "boolean"},
            "author": {"type": ["string", "null"], "description": "Username, for signed notes only."},
            "status": status,
            "redactions": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "How many items of each kind of personal data were replaced.",
            },
            "lang": {"type": ["string", "null"]},
            "processed": {"type": "boolean"},
            "theme_id": {"type": ["integer", "null"]},
        },
    }  # fmt: skip
    search_item = {
        "type": "object",
        "required": [
            "id", "text", "source", "unit", "touchpoint", "day", "lang", "tone", "theme_id", "status",
            "voices", "score", "ranks", "similarity", "highlights",
        ],
        "properties": {
            **{k: note["properties"][k] for k in ("id", "text", "source", "unit", "touchpoint", "day",
                                                    "lang", "theme_id", "status")},
            "tone": {"type": ["string", "null"], "enum": [*SHOWN_TONES, None],
                     "description": "As the interface shows it: uncertain when the model is unsure."},
            "voices": {"type": "integer", "description": "Other writers who said the same (\"me too\")."},
            "score": {"type": "number"},
            "ranks": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "The note's rank in each retrieval (semantic, keyword)."},
            "similarity": {
                "type": ["number", "null"],
                "description": "Cosine to the query by meaning (null when found by keywords only); for "
                               "similar notes, to the note once each language's centre is taken out "
                               "(when the model has centres, as `hiljainen models build` writes them).",
            },
            "highlights": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                "description": "Character spans of matching words in text.",
            },
        },
    }  # fmt: skip
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Hiljainen API",
            "version": "1",
            "description": (
                "Write notes and read them. Send `Authorization: Bearer <token>`; an administrator "
                "issues tokens. Staff tokens may create notes; leader and admin tokens may also read. "
                "Text is stored and returned redacted; contact details are never returned. "
                "Each token may make HILJAINEN_API_RATE_LIMIT requests a minute (120 unless set); "
                "beyond that the answer is 429 with Retry-After."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/observations": {
                "post": {
                    "operationId": "createObservation",
                    "summary": "Store a note (redacted before it is stored) and queue it for processing.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewObservation"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Created"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "413": error,
                        "415": error,
                    },
                },
                "get": {
                    "operationId": "listObservations",
                    "summary": "Notes, newest day first (leader and admin tokens).",
                    "description": "Within a day the order is by public id, never the order of writing.",
                    "parameters": [
                        {"name": "unit", "in": "query", "schema": {"type": "string", "maxLength": SLUG_MAX}},
                        {"name": "source", "in": "query", "schema": source},
                        {"name": "status", "in": "query", "schema": status},
                        {
                            "name": "since",
                            "in": "query",
                            "schema": date,
                            "description": "First day, inclusive.",
                        },
                        {
                            "name": "until",
                            "in": "query",
                            "schema": date,
                            "description": "Last day, inclusive.",
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of notes.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ObservationList"}
                                }
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                    },
                },
            },
            "/api/v1/observations/{id}": {
                "get": {
                    "operationId": "getObservation",
                    "summary": "One note (leader and admin tokens).",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": public_id}
                    ],
                    "responses": {
                        "200": {
                            "description": "The note.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Observation"}}
                            },
                        },
                        "401": error,
                        "403": error,
                        "404": error,
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search notes by meaning and keywords (leader and admin tokens).",
                    "description": "Empty filter values are ignored. Duplicates of other notes are left out.",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "A few words or a sentence (at most 500 characters).",
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "schema": date,
                            "description": "First day, inclusive.",
                        },
                        {"name": "to", "in": "query", "schema": date, "description": "Last day, inclusive."},
                        {"name": "unit", "in": "query", "schema": {"type": "string"}},
                        {"name": "touchpoint", "in": "query", "schema": {"type": "string"}},
                        {"name": "source", "in": "query", "schema": source},
                        {
                            "name": "lang",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["fi", "en", "und"]},
                        },
                        {"name": "theme", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {
                            "name": "tone",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(SHOWN_TONES)},
                            "description": "Notes whose tone shows as this (uncertain: the model is unsure).",
                        },
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "default": 1},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of results, best first.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/SearchResults"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "503": error,
                    },
                }
            },
            "/api/v1/observations/{id}/similar": {
                "get": {
                    "operationId": "similarObservations",
                    "summary": "The notes closest in meaning to one note (leader and admin tokens).",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": public_id},
                        {
                            "name": "k",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Most similar first; none before the note is analysed.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/SimilarList"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "404": error,
                        "503": error,
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "What is wrong, in words meant for a person.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
                "RateLimited": {
                    "description": "Too many requests with this token in this minute.",
                    "headers": {
                        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
                    },
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "NewObservation": {
                    "type": "object",
                    "required": ["text", "source"],
                    "additionalProperties": False,
                    "properties": {
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": max_chars,
                            "pattern": text_pattern(),
                            "description": (
                                f"The note, at most {max_chars} characters. Not empty or only spaces; no "
                                "control characters. HTML is stored as plain text."
                            ),
                        },
                        "source": source,
                        "unit": slug,
                        "touchpoint": {**slug, "description": "An active touchpoint's short name."},
                        "tags": {
                            "type": ["array", "null"],
                            "maxItems": intake.MAX_TAGS,
                            "items": {"type": "string", "maxLength": TAG_MAX, "pattern": TAG_PATTERN},
                        },
                        "anonymous": {
                            "type": "boolean",
                            "default": False,
                            "description": "Tokens issued for a user sign notes unless this is true.",
                        },
                        "shareable": {
                            "type": "boolean",
                            "default": False,
                            "description": (
                                "The writer lets other writers see the text as a similar note while "
                                "they write (never who wrote it)."
                            ),
                        },
                        "day": {**date, "description": "The day the note is about; today if left out."},
                    },
                },
                "Observation": note,
                "Created": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Observation"},
                        {
                            "type": "object",
                            "required": ["receipt", "queued"],
                            "properties": {
                                "receipt": {
                                    "type": ["string", "null"],
                                    "description": "The writer's receipt code, shown only here, once.",
                                },
                                "queued": {"type": "boolean"},
                            },
                        },
                    ]
                },
                "ObservationList": {
                    "type": "object",
                    "required": ["items", "total", "limit", "offset"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Observation"}},
                        "total": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                    },
                },
                "SearchItem": search_item,
                "SearchResults": {
                    "type": "object",
                    "required": ["items", "total", "page", "pages", "page_size", "message"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchItem"}},
                        "total": {"type": "integer"},
                        "page": {"type": "integer"},
                        "pages": {"type": "integer"},
                        "page_size": {"type": "integer"},
                        "message": {"type": ["string", "null"], "description": "Why nothing was found."},
                    },
                },
                "SimilarList": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchItem"}},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
    for path in spec["paths"].values():
        for operation in path.values():
            if operation.get("security") != []:  # every call with a token counts towards its limit
                operation["responses"]["429"] = {"$ref": "#/components/responses/RateLimited"}
    return spec
