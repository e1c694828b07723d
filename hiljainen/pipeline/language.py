"""Language detection: Finnish, English or undetermined ("und"), with py3langid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SUPPORTED = ("fi", "en")
UNDETERMINED = "und"

# Why a prior: py3langid spreads short notes thinly over 140 languages ("Meal late" gets en 0.05,
# Extremaduran 0.08). Notes in a Finnish organisation are overwhelmingly Finnish or English, so
# every other language is a priori OTHER_WEIGHT times as likely. Swedish, Estonian and Russian,
# the languages most often written in Finland besides these two, keep full weight: Swedish and
# Estonian notes then come out "und" instead of being forced into fi (et is close to fi).
OTHER_WEIGHT = 0.1
NEIGHBOURS = ("sv", "et", "ru")

# Redaction markers ("[NIMI]", "[PHONE]") say nothing about the language of the note, and
# digits and symbols (prices, phone numbers, times) only add noise to short notes:
# "Ateria maksaa 8,90 € ja kuljetus 3,50 €." came out Estonian before they were removed.
_MARKER = re.compile(r"\[[A-ZÄÖÅ_]+\]")
_NOISE = re.compile(r"[^\w\s'’-]|[\d_]")
_MIN_LETTERS = 2


@dataclass(frozen=True)
class LanguageGuess:
    """A detected language code ("fi", "en" or "und") and the probability behind it."""

    code: str
    confidence: float


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Imported lazily: the model file is decompressed on first use (~0.3 s).
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _clean(text: str) -> str:
    return " ".join(_NOISE.sub(" ", _MARKER.sub(" ", text)).split())


def probabilities(text: str) -> dict[str, float]:
    """Posterior over all py3langid languages after the deployment prior, summing to 1."""
    ranked = _identifier().rank(_clean(text))
    weighted = {
        lang: p * (1.0 if lang in SUPPORTED or lang in NEIGHBOURS else OTHER_WEIGHT)
        for lang, p in ranked
    }
    total = sum(weighted.values()) or 1.0
    return {lang: w / total for lang, w in weighted.items()}


def detect(text: str) -> LanguageGuess:
    """Guess whether a note is Finnish, English or neither ("und").

    The most probable language wins; if it is not fi/en the note is "und" and the confidence
    is the probability that it is neither fi nor en. Text with fewer than two letters once
    markers are removed (emoji, digits, markers only) is "und" with confidence 1.
    """
    letters = sum(ch.isalpha() for ch in _clean(text))
    if letters < _MIN_LETTERS:
        return LanguageGuess(UNDETERMINED, 1.0)
    probs = probabilities(text)
    best = max(probs, key=probs.__getitem__)
    if best in SUPPORTED:
        return LanguageGuess(best, round(probs[best], 4))
    unsupported = 1.0 - sum(probs.get(code, 0.0) for code in SUPPORTED)
    return LanguageGuess(UNDETERMINED, round(max(0.0, unsupported), 4))
