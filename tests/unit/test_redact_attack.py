"""Redaction under attack (issue 22, finding 1): the forms that leaked, each with a test.

Real spaCy pipelines and the real Voikko lexicon; each form below was left in the text by the
redactor before the fix. Look-alikes (times, dates, sums, room numbers, everyday words that are
also names, product names) must stay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hiljainen import intake
from hiljainen.models import Base, Source
from hiljainen.pipeline.redact import Redactor, find_structured, normalise

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    r = Redactor()
    r.redact("Lämmin kiitos Matille.", "fi")
    r.redact("Thank you, Emily.", "en")
    return r


def fi(redactor: Redactor, text: str) -> str:
    return redactor.redact(text, "fi").text


# --- normalisation keeps offsets ----------------------------------------------------------


def test_normalise_maps_every_character_back() -> None:
    text = "a\u00a0b–c\u200bd１"
    normal, offsets = normalise(text)
    assert normal == "a b-cd1"
    assert [text[offsets[i]] for i in range(len(normal))] == ["a", "\u00a0", "b", "–", "c", "d", "１"]
    assert offsets[-1] == len(text)


# --- identity codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "131052–308T",  # en dash
        "131052\u2011308T",  # no-break hyphen
        "131052\u2212308T",  # minus sign
        "131052 - 308T",  # spaces around the sign
        "13 10 52-308T",  # spaces inside the date
        "131052 308T",  # a space for the sign
        "１３１０５２－３０８Ｔ",  # full-width digits, hyphen and letter
        "131052-308t",  # lower-case check character
    ],
)
def test_identity_code_forms(redactor: Redactor, code: str) -> None:
    assert fi(redactor, f"Hetu {code} lomakkeella.") == "Hetu [HETU] lomakkeella."
    assert [s.kind for s in find_structured(f"Hetu {code}.")] == ["HETU"]


def test_identity_code_with_wrong_check_stays_in_any_form(redactor: Redactor) -> None:
    assert fi(redactor, "Koodi 131052–308U lomakkeella.") == "Koodi 131052–308U lomakkeella."


# --- phone numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "040\u00a0123\u00a04567",  # no-break spaces
        "040\u202f123\u202f4567",  # narrow no-break spaces
        "040.123.4567",  # dots
        "358401234567",  # country code without the plus
        "358 40 123 4567",
        "040–123 4567",  # en dash
        "０４０ １２３ ４５６７",  # full-width digits
        "040/1234567",
    ],
)
def test_phone_forms(redactor: Redactor, number: str) -> None:
    assert fi(redactor, f"Soita numeroon {number}, kiitos.") == "Soita numeroon [PUHELIN], kiitos."


def test_english_phone_without_plus(redactor: Redactor) -> None:
    assert redactor.redact("My number is 447700900123 today.", "en").text == (
        "My number is [PHONE] today."
    )


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Matille soitettiin kahdesti.", "[NIMI] soitettiin kahdesti."),
        ("Jukalle pitää kertoa saunavuorosta.", "[NIMI] pitää kertoa saunavuorosta."),
        ("Heikille soitettiin eilen.", "[NIMI] soitettiin eilen."),
    ],
)
def test_inflected_first_name_at_sentence_start(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("matti virtanen kävi kysymässä avaimesta.", "[NIMI] kävi kysymässä avaimesta."),
        ("Soitin liisalle ja kerroin muutoksesta.", "Soitin [NIMI] ja kerroin muutoksesta."),
        ("kysy jukalta avaimista.", "kysy [NIMI] avaimista."),
    ],
)
def test_lowercase_names(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Asiakas Owusu valitti lounaasta.", "Asiakas [NIMI] valitti lounaasta."),
        ("Rouva Nguyen pyysi tulkkia.", "Rouva [NIMI] pyysi tulkkia."),
        ("Herra Kowalski ei saanut lääkkeitä.", "Herra [NIMI] ei saanut lääkkeitä."),
        ("Kwame Owusu odotti kuljetusta.", "[NIMI] odotti kuljetusta."),
        ("Sari Owusu soitti lapsen puolesta.", "[NIMI] soitti lapsen puolesta."),
    ],
)
def test_foreign_surnames_by_context(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


def test_foreign_name_after_english_title(redactor: Redactor) -> None:
    assert redactor.redact("Carer Bukola was lovely.", "en").text == "Carer [NAME] was lovely."


# --- car plates and obfuscated e-mail ------------------------------------------------------


def test_car_plates(redactor: Redactor) -> None:
    assert fi(redactor, "Auto ABC-123 oli pelastustiellä.") == (
        "Auto [REKISTERINUMERO] oli pelastustiellä."
    )
    assert redactor.redact("The car AB12 CDE blocks the bay.", "en").text == (
        "The car [PLATE] blocks the bay."
    )


@pytest.mark.parametrize(
    "address",
    [
        "info(at)firma.fi",
        "liisa.k [at] luukku.com",
        "jussi(a)kolumbus.fi",
        "matti piste virtanen at gmail",
        "matti.virtanen ät gmail piste com",
        "mary dot jones at gmail dot com",
    ],
)
def test_obfuscated_email(redactor: Redactor, address: str) -> None:
    assert fi(redactor, f"Viesti osoitteeseen {address} kiitos.") == (
        "Viesti osoitteeseen [SÄHKÖPOSTI] kiitos."
    )


def test_iban_and_address_forms(redactor: Redactor) -> None:
    assert fi(redactor, "Tili FI21\u00a01234\u00a05600\u00a00007\u00a085 on isän.") == "Tili [IBAN] on isän."
    assert fi(redactor, "Tili fi21 1234 5600 0007 85 on isän.") == "Tili [IBAN] on isän."
    assert fi(redactor, "Käyn Hämeenkatu 5 A 3:ssa joka tiistai.") == "Käyn [OSOITE]:ssa joka tiistai."


def test_iban_of_a_rarer_country_needs_capitals(redactor: Redactor) -> None:
    # "is 447700900123 if you" once passed the mod-97 check as an Icelandic IBAN.
    assert redactor.redact("My number is 447700900123 if you need me.", "en").text == (
        "My number is [PHONE] if you need me."
    )
    # and a capitalised code followed by words: "YX68 KLM blocks the gate" passed as an IBAN
    plate = redactor.redact("The car YX68 KLM blocks the gate.", "en")
    assert plate.text == "The car [PLATE] blocks the gate."


# --- obfuscated forms: spaced, dotted, digit by digit, lower case ------------------------


@pytest.mark.parametrize(
    "number",
    [
        "040 - 123 4567",  # a dash with spaces around it
        "040 - 123 - 45 - 67",
        "0 4 0 1 2 3 4 5 6 7",  # digit by digit
        "0-4-0-1-2-3-4-5-6-7",
        "040-123-45-67",
        "040  123  4567",  # double spaces
        "09 12 34 56 78",  # pairs: the last pair was left in place
        "+358  40  123  4567",
        "+ 358 40 123 4567",
        "+358 4 0 1 2 3 4 5 6 7",
        "+358 (40) 123 4567",
        "+358 (0) 40 - 123 4567",
        "(040) 1234567",
    ],
)
def test_obfuscated_phone_forms(redactor: Redactor, number: str) -> None:
    assert fi(redactor, f"Soita numeroon {number}, kiitos.") == "Soita numeroon [PUHELIN], kiitos."


@pytest.mark.parametrize(
    "address",
    [
        "matti.virtanen @ example.fi",  # spaces around the at-sign
        "matti @example.fi",
        "matti@ example.fi",
        "matti.virtanen @ firma.co",  # with a real "@" any top-level domain will do
        "matti (at) example.fi",
        "matti[at]example.fi",
        "matti at example dot fi",
    ],
)
def test_spaced_email(redactor: Redactor, address: str) -> None:
    assert fi(redactor, f"Viesti osoitteeseen {address} kiitos.") == (
        "Viesti osoitteeseen [SÄHKÖPOSTI] kiitos."
    )


@pytest.mark.parametrize(
    "code",
    [
        "13.10.52-308T",  # the date part written as a date
        "13.10.1952-308T",  # with the year in full
        "13.10.52 308T",
        "13. 10. 52 - 308T",
        "1.3.85-123Y",  # day and month without the leading zero
        "12.03.85-1232",
        "131052308T",  # no sign at all, a letter as the check character
        "120385 1232",
        "12 03 85-1232",
    ],
)
def test_dotted_identity_codes(redactor: Redactor, code: str) -> None:
    assert fi(redactor, f"Hetu {code} lomakkeella.") == "Hetu [HETU] lomakkeella."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asun mannerheimintie 12 b 5", "asun [OSOITE]"),
        ("kotiosoite on hämeenkatu 3 a", "kotiosoite on [OSOITE]"),
        ("Hän asuu nykyään hämeenkadulla 20.", "Hän asuu nykyään [OSOITE]."),
        ("Uusi osoite: rantatie 15 as 3, 33100 tampere.", "Uusi osoite: [OSOITE]."),
        ("Vie ruoka hämeenkatu 3 b 12:een.", "Vie ruoka [OSOITE]:een."),  # flat: no cue needed
    ],
)
def test_lowercase_street_address(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Kokous 12.3.2026 klo 14.30, ilmoittautuminen 12.03. mennessä.",
        "Lounas maksoi 12,50 € huoneessa 12, tilaus 123456.",
        "Kävin 3-4 kertaa viikossa vuonna 2024.",
        "Y-tunnus 0112038-9 on laskussa.",
        "Lomake 01-02-2024 saapui ajallaan.",  # a date, not a phone number
        "Inventaario 12.3.2026 2309 kpl.",  # date and count happen to pass the hetu check
        "Aukioloaika 08 - 16 17 - 20, puhelinaika 9 - 12.",  # hours, not a spaced number
        "Tapaaminen @ kahvila klo 12. Se oli mukava.",
        "Eilen ajoimme valtatie 4:ää pitkin.",  # lower case: a road, no address cue
        "Lapset leikkivät takapihalla 3 tuntia.",
        "asukas kävi torilla 2 kertaa.",
    ],
)
def test_obfuscation_look_alikes_kept(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "fi")
    assert result.found == {} and result.text == text


# --- look-alikes stay ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Kokous on 6.12.2026 klo 12.30 huoneessa 14.",
        "Lasku oli 45,90 € ja toinen 1\u00a0250 euroa.",
        "Onni oli matkassa, kun kaatuminen ei aiheuttanut murtumia.",
        "Toivo paremmasta ruoasta elää vielä.",
        "Aino-jäätelöä oli jälkiruokana.",
        "COVID-19-rokotukset siirtyvät ensi viikkoon.",
        "Satu luettiin päiväkerhossa ääneen.",
        "Muutin osoitteeseen, posti ei tule perille.",
        "I met her at home on 6.12.2026 at 12.30.",
    ],
)
def test_look_alikes_kept(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text)
    assert result.found == {} and result.text == text


# --- uncertainty --------------------------------------------------------------------------


def test_unknown_capitalised_word_left_in_place_is_uncertain(redactor: Redactor) -> None:
    # Mid-sentence such a word is taken for a name ("Ruoan toi eilen Zorbakis"); at the start
    # of a Finnish sentence, where colloquial words and firms stand as often, it stays, uncertain.
    unsure = redactor.redact("Zorbakis toi ruoan eilen myöhässä.", "fi")
    assert unsure.uncertain and unsure.text.startswith("Zorbakis")
    assert not redactor.redact("Ruoka oli kylmää eilen illalla.", "fi").uncertain
    assert not redactor.redact("Asiakas Owusu valitti lounaasta.", "fi").uncertain
    assert not redactor.redact("Sit ruoka tuli myöhässä.", "fi").uncertain  # a short particle


def test_uncertain_note_is_not_shareable(redactor: Redactor) -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        sure = intake.Draft(text="Ruoka oli kylmää eilen.", source=Source.STAFF, shareable=True)
        unsure = intake.Draft(
            text="Zorbakis toi ruoan eilen myöhässä.", source=Source.STAFF, shareable=True
        )
        assert intake.store(s, sure, redactor, max_chars=5000).observation.shareable
        assert not intake.store(s, unsure, redactor, max_chars=5000).observation.shareable


# --- the labelled set ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stem", "min_rows"),
    # The first set (tuning lines and its first held-out part), then the later held-out sets,
    # each written before the round of fixes it scored (bench/results/redaction.md).
    [
        ("tricky", 300),
        ("tricky_fresh", 100),
        ("tricky_third", 100),
        ("tricky_fourth", 90),
        ("tricky_fifth", 90),
        ("tricky_sixth", 90),
    ],
)
def test_tricky_set_recall_and_words_kept(redactor: Redactor, stem: str, min_rows: int) -> None:
    rows = [json.loads(line) for line in (DATA / f"redaction_{stem}.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) >= min_rows and sum(r["heldout"] for r in rows) >= min(200, min_rows)
    texts = [r["text"] for r in rows]
    found = redactor.find(texts, [r["lang"] for r in rows])
    gold = hit = chars = kept = 0
    for row, spans in zip(rows, found, strict=True):
        text = row["text"]
        for start, end, _kind in row["spans"]:
            gold += 1
            hit += all(
                not text[i].isalnum() or any(s.start <= i < s.end for s in spans)
                for i in range(start, end)
            )
        for i, ch in enumerate(text):
            if ch.isalnum() and not any(start <= i < end for start, end, _ in row["spans"]):
                chars += 1
                kept += not any(s.start <= i < s.end for s in spans)
    assert hit / gold >= 0.95
    assert kept / chars >= 0.97  # letters and digits outside personal data left intact
