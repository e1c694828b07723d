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
from hiljainen.pipeline.redact_names import case_view

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
        "matti.virtanen (at) gmail (dot) com",
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


# --- capitals, spaced letters, O for zero, lower-case plates (issue 22, finding 3) --------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MATTI VIRTANEN soitti.", "[NIMI] soitti."),
        ("Matti VIRTANEN soitti.", "[NIMI] soitti."),
        ("Hoitaja PIRJO KETTUNEN oli töykeä.", "Hoitaja [NIMI] oli töykeä."),
        ("Soitin MATILLE eilen illalla.", "Soitin [NIMI] eilen illalla."),
        (
            "HOITAJA PIRJO KETTUNEN HUUSI ÄIDILLENI RUOKASALISSA KUN HÄN EI JAKSANUT SYÖDÄ",
            "HOITAJA [NIMI] HUUSI ÄIDILLENI RUOKASALISSA KUN HÄN EI JAKSANUT SYÖDÄ",
        ),
        ("KIITOS HEIKILLE JA LAURALLE AVUSTA!", "KIITOS [NIMI] JA [NIMI] AVUSTA!"),
        ("HOITAJA EMMI OLI TOSI MUKAVA", "HOITAJA [NIMI] OLI TOSI MUKAVA"),  # "emmi": a verb too
        ("ANNA VIRTANEN SOITTI", "[NIMI] SOITTI"),  # "anna": give
        ("MATTI MÄKI SOITTI", "[NIMI] SOITTI"),  # "mäki": a hill
        ("KIITOS MATILLE AAMULLA", "KIITOS [NIMI] AAMULLA"),  # "Aamu" is a name too
    ],
)
def test_names_in_capitals(redactor: Redactor, text: str, expected: str) -> None:
    result = redactor.redact(text, "fi")
    assert result.text == expected


def test_english_names_in_capitals(redactor: Redactor) -> None:
    assert redactor.redact("Nurse JOHN SMITH was rude.", "en").text == "Nurse [NAME] was rude."
    assert redactor.redact("THANK YOU SARAH FOR THE LIFT", "en").text == (
        "THANK YOU [NAME] FOR THE LIFT"
    )


def test_names_in_capitals_keep_offsets(redactor: Redactor) -> None:
    text = "Hoitaja PIRJO KETTUNEN, puh. 040\u00a0123\u00a04567."
    spans = redactor.find([text], ["fi"])[0]
    assert [(text[s.start : s.end], s.kind) for s in spans] == [
        ("PIRJO KETTUNEN", "NAME"),
        ("040\u00a0123\u00a04567", "PHONE"),
    ]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("HUOM KIIREELLINEN: WC ei toimi, korjaus ASAP.", "fi"),
        ("HUS ja KELA soittivat, ATK-tuki ei vastannut.", "fi"),
        ("Y-TUNNUS puuttuu laskusta, OK?", "fi"),
        ("EI TODELLA KÄY, HUONE ON KYLMÄ!", "fi"),
        ("RUOKA OLI TODELLA KYLMÄÄ EILEN ILLALLA JA HUONE OLI SOTKUINEN.", "fi"),
        ("TOIVO PAREMMASTA RUOASTA ELÄÄ VIELÄ.", "fi"),  # an everyday word that is also a name
        ("ONNI OLI MATKASSA, KUN KAATUMINEN EI AIHEUTTANUT MURTUMIA.", "fi"),
        ("MENIMME HELSINKIIN TAKSILLA, SOTE-ASEMA OLI KIINNI.", "fi"),
        ("PLEASE FIX THE HEATING ASAP, ROOM 12 IS FREEZING.", "en"),
        ("I WILL CALL THE OFFICE AGAIN, THE BILL IS WRONG.", "en"),
        ("COVID-19-rokotukset ja TV-ohjelma siirtyvät.", "fi"),
    ],
)
def test_capitals_look_alikes_kept(redactor: Redactor, text: str, lang: str) -> None:
    result = redactor.redact(text, lang)
    assert result.found == {} and result.text == text
    assert not result.uncertain


@pytest.mark.parametrize(
    "text",
    [
        "KWAME OWUSU ODOTTI KULJETUSTA.",  # unknown to every lexicon
        "Ruoan toi eilen ZORBAKIS myöhässä.",
        "TOIVO SAARI KÄVI KATSOMASSA.",  # two everyday words, shaped as first name and surname
        "EVA SOITTI.",  # a short name reads the same as an acronym
    ],
)
def test_name_like_capitals_left_in_place_are_uncertain(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "fi")
    left = [w for w in ("KWAME", "OWUSU", "ZORBAKIS", "TOIVO", "SAARI", "EVA") if w in result.text]
    assert not left or result.uncertain


def test_case_view_keeps_length_and_plain_notes() -> None:
    plain = "Ruoka oli kylmää, Matti soitti [NIMI]:lle."
    assert case_view(plain, "fi") == (plain, frozenset())
    text = "HOITAJA PIRJO soitti [NIMI]:lle ASAP"
    view, caps = case_view(text, "fi")
    assert view == "hoitaja Pirjo soitti [NIMI]:lle ASAP"  # markers and unknown words stay
    assert sorted(text[a:b] for a, b in caps) == ["ASAP", "HOITAJA", "PIRJO"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hoitaja P i r j o oli töykeä.", "Hoitaja [NIMI] oli töykeä."),
        ("Soitin M a t i l l e eilen.", "Soitin [NIMI] eilen."),
        ("Hoitaja P I R J O oli töykeä.", "Hoitaja [NIMI] oli töykeä."),
        ("Hoitaja P i r j o K e t t u n e n oli töykeä.", "Hoitaja [NIMI] oli töykeä."),
    ],
)
def test_name_spelt_with_spaces(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Vastaus oli k y l l ä, kiitos.",
        "Vaihtoehdot a b c d lomakkeella.",
        "T O D E L L A huono ruoka.",
        "Huoneet 1 2 3 4 siivottiin.",
    ],
)
def test_spaced_letters_look_alikes_kept(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "fi")
    assert result.found == {} and result.text == text


def test_spaced_identity_code_goes_whole(redactor: Redactor) -> None:
    assert fi(redactor, "Hetu 0 1 0 1 9 0 - 1 2 3 M lomakkeella.") == "Hetu [HETU] lomakkeella."
    assert fi(redactor, "Hetu 0 1 0 1 9 0 1 2 3 M lomakkeella.") == "Hetu [HETU] lomakkeella."


@pytest.mark.parametrize(
    "number",
    ["O4O 123 4567", "o40 1234567", "O40-1234567", "+358 4O 123 4567"],
)
def test_phone_with_letter_o_for_zero(redactor: Redactor, number: str) -> None:
    assert fi(redactor, f"Soita numeroon {number}, kiitos.") == "Soita numeroon [PUHELIN], kiitos."


@pytest.mark.parametrize(
    ("text", "expected", "lang"),
    [
        ("rekkari abc-123 oli pihalla.", "rekkari [REKISTERINUMERO] oli pihalla.", "fi"),
        ("Auton rekisterinumero on abc-123.", "Auton rekisterinumero on [REKISTERINUMERO].", "fi"),
        ("kilpi oli xyz-12, ajoi pois.", "kilpi oli [REKISTERINUMERO], ajoi pois.", "fi"),
        ("The van's plate was ab12 cde again.", "The van's plate was [PLATE] again.", "en"),
    ],
)
def test_lowercase_plate_after_a_cue(redactor: Redactor, text: str, expected: str, lang: str) -> None:
    assert redactor.redact(text, lang).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tilaus abc-123 saapui ajallaan.",  # no cue: an order code
        "Huone O4 ja ovi 4O olivat auki.",  # too few digits for a phone
        "Sain ooo-viestin 040 kertaa, ei hätää.",
        "Rekkari oli covid-19-tarrassa, huone ab-1 siivottu.",  # cue, but a known code
    ],
)
def test_o_for_zero_and_plate_look_alikes_kept(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "fi")
    assert result.found == {} and result.text == text


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


# --- numbers across a line break or in words, spaced e-mail, English streets in lower case -


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Soita 040\n123 4567, kiitos.", "Soita [PUHELIN], kiitos."),  # wrapped at the line end
        ("Soita 040 123\r\n4567, kiitos.", "Soita [PUHELIN], kiitos."),
        ("Soita 040\t1234567, kiitos.", "Soita [PUHELIN], kiitos."),
    ],
)
def test_phone_across_a_line_break(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "lang"),
    [
        (
            "Soita nolla neljä nolla yksi kaksi kolme neljä viisi kuusi seitsemän, kiitos.",
            "Soita [PUHELIN], kiitos.",
            "fi",
        ),
        (
            "Numero on nolla neljä nolla, yksi kaksi kolme, neljä viisi kuusi seitsemän.",
            "Numero on [PUHELIN].",
            "fi",
        ),
        ("Soita 040 yksi kaksi kolme neljä viisi kuusi seitsemän.", "Soita [PUHELIN].", "fi"),
        ("Call oh seven seven oh oh nine zero zero one two three today.", "Call [PHONE] today.", "en"),
    ],
)
def test_phone_spelt_in_words(redactor: Redactor, text: str, expected: str, lang: str) -> None:
    assert redactor.redact(text, lang).text == expected


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Kävin kaksi kertaa, yksi kaksi kolme neljä viisi kuusi seitsemän.", "fi"),  # no zero
        ("Nolla kertaa myöhässä, kaksi kertaa ajallaan.", "fi"),
        ("Tulokset 0, 1, 2, 3, 4, 5, 6 ja 7 kirjattiin.", "fi"),
        ("Aukioloaika 08 - 16\n17 - 20, puhelinaika 9 - 12.", "fi"),  # hours over two lines
        ("Kokous 12.3.2026\nklo 14.30 huoneessa 12.", "fi"),
        ("Lounas 12,50 €\n2 kertaa viikossa, tilaus 123456\n78 kpl.", "fi"),
        ("Oh, one two three four five six seven eight, we counted.", "en"),
    ],
)
def test_phone_across_lines_and_in_words_look_alikes_kept(
    redactor: Redactor, text: str, lang: str
) -> None:
    result = redactor.redact(text, lang)
    assert result.found == {} and result.text == text


@pytest.mark.parametrize(
    "address",
    [
        "matti . virtanen @ gmail . com",  # spaces around every separator
        "matti.virtanen@gmail . com",
        "matti.virtanen (at) gmail . com",
        "matti.virtanen <at> gmail <dot> com",
        "matti . virtanen at gmail . com",
        "matti.virtanen miukumauku gmail piste com",  # the at-sign's Finnish nickname
        "matti.virtanen @ firma . co . uk",
    ],
)
def test_email_with_spaced_or_spelt_separators(redactor: Redactor, address: str) -> None:
    assert fi(redactor, f"Viesti osoitteeseen {address} kiitos.") == (
        "Viesti osoitteeseen [SÄHKÖPOSTI] kiitos."
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Tapaaminen @ kahvila . se oli mukava.", "fi"),  # a spaced full stop, not a domain
        ("I met her at home . It was fine.", "en"),
        ("I met her at home . no problems.", "en"),
        ("She sang at live events for years.", "en"),  # providers that are words need a domain
        ("We looked at outlook calendars together.", "en"),
    ],
)
def test_email_look_alikes_kept(redactor: Redactor, text: str, lang: str) -> None:
    result = redactor.redact(text, lang)
    assert result.found == {} and result.text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("she lives at 12 baker street", "she lives at [ADDRESS]"),
        ("14 elm road flat 3", "[ADDRESS]"),
        ("New address is 14 elm road, flat 3.", "New address is [ADDRESS]."),
        ("flat 3, 14 elm road needs a visit.", "[ADDRESS] needs a visit."),
        ("She moved to 5 station road last week.", "She moved to [ADDRESS] last week."),
        ("She lived 40 years at 12 baker street.", "She lived 40 years at [ADDRESS]."),
    ],
)
def test_lowercase_english_street_address(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact(text, "en").text == expected


@pytest.mark.parametrize(
    "text",
    [
        "She lives 5 minutes walk from here.",  # a distance, not a house number
        "He lives 2 doors down the road.",
        "She lived 40 years on baker street.",  # no house number
        "We took 5 cars on the way.",  # no word about living
        "I delivered 14 meals on the road at 12.30.",
        "Room 12 down the hill was cold, 2 times.",
        "Her daughter lives a 20 min drive away.",  # abbreviated units too
        "He lives 2 hrs drive from his son.",
        "She moved to a flat 10 min walk from the shop.",
    ],
)
def test_lowercase_english_street_look_alikes_kept(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "en")
    assert result.found == {} and result.text == text
