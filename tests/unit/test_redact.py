"""Personal-data redaction with the real spaCy pipelines and Voikko lexicon."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hiljainen.pipeline.redact import (
    MARKERS,
    Redactor,
    find_structured,
    resolve,
    valid_hetu,
    valid_iban,
)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def redactor() -> Redactor:
    r = Redactor()
    r.redact("Lämmin kiitos Matille.", "fi")  # loads the Finnish pipeline once
    r.redact("Thank you, Emily.", "en")
    return r


def fi(redactor: Redactor, text: str) -> str:
    return redactor.redact(text, "fi").text


def en(redactor: Redactor, text: str) -> str:
    return redactor.redact(text, "en").text


# --- validators (no models) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["131052-308T", "010594Y9032", "020202A002F", "290224B123F", "010181-900C",
             "311299-9872", "150315W045D"],
)  # fmt: skip
def test_valid_hetu(code: str) -> None:
    assert valid_hetu(code)


@pytest.mark.parametrize(
    "code",
    [
        "131052-308U",  # wrong check character
        "010594Y9033",  # wrong check character, new century sign
        "290223A1237",  # right check character, but 29 February 2023 did not exist
        "131052G308T",  # not a century sign
        "131052-308",  # too short
    ],
)
def test_invalid_hetu(code: str) -> None:
    assert not valid_hetu(code)


@pytest.mark.parametrize(
    "code",
    ["FI21 1234 5600 0007 85", "FI2112345600000785", "DE89 3704 0044 0532 0130 00",
     "GB29 NWBK 6016 1331 9268 19"],
)  # fmt: skip
def test_valid_iban(code: str) -> None:
    assert valid_iban(code)


@pytest.mark.parametrize(
    "code", ["FI21 1234 5600 0007 86", "FI21 1234 5600 0007 8", "GB29 NWBK 6016 1331 9268 18"]
)
def test_invalid_iban(code: str) -> None:
    assert not valid_iban(code)


def test_structured_patterns_without_models() -> None:
    text = "Tili FI21 1234 5600 0007 85, hetu 131052-308T, puh. 040 123 4567, a@b.fi."
    # The IBAN's digits also look like a phone number: resolve keeps the validated IBAN.
    assert [s.kind for s in resolve(text, find_structured(text))] == [
        "IBAN", "HETU", "PHONE", "EMAIL"
    ]
    assert Redactor(names=False).redact(text, "fi").text == (
        "Tili [IBAN], hetu [HETU], puh. [PUHELIN], [SÄHKÖPOSTI]."
    )


# --- each kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["040 123 4567", "0401234567", "040-123 4567", "+358 40 1234567", "+358401234567",
     "09-123 4567", "(09) 8765 432", "00358 40 1234567", "014 123 456", "0800 12345"],
)  # fmt: skip
def test_finnish_phone_numbers(redactor: Redactor, number: str) -> None:
    assert fi(redactor, f"Soita numeroon {number}, kiitos.") == "Soita numeroon [PUHELIN], kiitos."


@pytest.mark.parametrize(
    "number", ["07700 900123", "+44 20 7946 0958", "(555) 123-4567", "555-123-4567"]
)
def test_english_phone_numbers(redactor: Redactor, number: str) -> None:
    assert en(redactor, f"Call me on {number} tomorrow.") == "Call me on [PHONE] tomorrow."


def test_email(redactor: Redactor) -> None:
    assert fi(redactor, "Viesti osoitteeseen aino.m@example.fi kiitos.") == (
        "Viesti osoitteeseen [SÄHKÖPOSTI] kiitos."
    )
    assert en(redactor, "Write to MARY.COLE@EXAMPLE.COM today.") == "Write to [EMAIL] today."


def test_hetu_redacted_only_when_valid(redactor: Redactor) -> None:
    assert fi(redactor, "Hetu 131052-308T lomakkeella.") == "Hetu [HETU] lomakkeella."
    assert fi(redactor, "Hetu 010594Y9032 lomakkeella.") == "Hetu [HETU] lomakkeella."
    assert fi(redactor, "Hetu 131052-308U lomakkeella.") == "Hetu 131052-308U lomakkeella."
    assert en(redactor, "Her code is 131052-308T.") == "Her code is [ID]."


def test_iban_redacted_only_when_valid(redactor: Redactor) -> None:
    assert fi(redactor, "Tilille FI21 1234 5600 0007 85 viitteellä 1234.") == (
        "Tilille [IBAN] viitteellä 1234."
    )
    assert en(redactor, "Pay to GB29NWBK60161331926819 now.") == "Pay to [IBAN] now."
    assert fi(redactor, "Tilille FI21 1234 5600 0007 86 ei voi maksaa.") == (
        "Tilille FI21 1234 5600 0007 86 ei voi maksaa."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Uusi osoite on Mannerheimintie 12 B 34.", "Uusi osoite on [OSOITE]."),
        ("Asuin Hämeenkatu 5:ssä.", "Asuin [OSOITE]:ssä."),
        ("Ruoka tuodaan Rantatie 15 as. 3, 33100 Tampere.", "Ruoka tuodaan [OSOITE]."),
        ("Asun Hämeenkadulla 20 yksin.", "Asun [OSOITE] yksin."),
    ],
)
def test_finnish_addresses(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


def test_english_addresses(redactor: Redactor) -> None:
    assert en(redactor, "I live at 12 Baker Street now.") == "I live at [ADDRESS] now."
    assert en(redactor, "Deliver to Flat 3, 18 Victoria Road please.") == (
        "Deliver to [ADDRESS] please."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Soitin Korhoselle ja kerroin asiasta.", "Soitin [NIMI] ja kerroin asiasta."),
        ("Matin omainen soitti.", "[NIMI] omainen soitti."),
        ("Hoitaja Virtasen mukaan iltapala jäi väliin.", "Hoitaja [NIMI] mukaan iltapala jäi väliin."),
        ("Asukas Matti Korhonen valitti ruoasta.", "Asukas [NIMI] valitti ruoasta."),
        ("Kiitos Jarmo Lehtiselle avusta.", "Kiitos [NIMI] avusta."),
        ("Kysy lisää Riikka Hämäläiseltä.", "Kysy lisää [NIMI]."),
        ("Vein Ahmedille vuodevaatteita.", "Vein [NIMI] vuodevaatteita."),
        ("Liisa-mummo lauloi.", "[NIMI]-mummo lauloi."),
    ],
)
def test_inflected_finnish_names(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


def test_english_names(redactor: Redactor) -> None:
    assert en(redactor, "Please thank Sarah Jones for the help.") == (
        "Please thank [NAME] for the help."
    )
    assert en(redactor, "I called Mrs Patel yesterday.") == "I called Mrs [NAME] yesterday."
    assert en(redactor, "Ask Liisa Virtanen in the office.") == "Ask [NAME] in the office."


# --- precision: near-misses stay ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hoitaja kävi aamulla ja asukas söi hyvin.",
        "Asukas huoneesta 214 kaatui yöllä.",
        "Kela korvaa osan kuljetuksista.",
        "Kotihoito ei ehtinyt käydä 12.4.2024.",
        "Palvelutalo Koivikon pihalla on liukasta.",
        "Ateria maksaa 8,90 € ja vuokra 745 €.",
        "Tilaus 48213-77 ja tilausnumero 2024-00871 koskevat joulukuuta.",
        "Tuotteet Valio Eila -maito ja Fazerin ruisleipä loppuivat.",
        "Kokous klo 9.00–10.30 kokoushuoneessa 2.",
        "Viitenumero 12345 67890 12, Y-tunnus 1234567-8, postinumero 00100.",
        "Kiinteistötunnus 091-012-0034-0005 löytyy sopimuksesta.",
        "Historia 1950-luvulta kiinnostaa asukkaita.",
        "Rantatiellä oli 5 autoa pysäköitynä.",
        "Koulupolun asukkaat toivovat valaistusta.",
    ],
)
def test_finnish_near_misses_kept(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text, "fi").found == {}


@pytest.mark.parametrize(
    "text",
    [
        "The resident in room 214 fell during the night.",
        "Order #45821 costs £12.50 and arrives on 12/03/2024.",
        "Meals on Wheels delivered lunch two hours late.",
        "Ward 3B needs more staff at weekends.",
        "Invoice 2024/1187 totals £2,310.",
    ],
)
def test_english_near_misses_kept(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text, "en").found == {}


# --- API behaviour ---------------------------------------------------------------------------


def test_found_counts_and_marker_language(redactor: Redactor) -> None:
    text = "Matti Korhonen, puh. 040 123 4567, matti@example.fi, Liisa soittaa huomenna."
    result = redactor.redact(text, "fi")
    assert result.found == {"NAME": 2, "PHONE": 1, "EMAIL": 1}
    assert result.text == "[NIMI], puh. [PUHELIN], [SÄHKÖPOSTI], [NIMI] soittaa huomenna."
    english = redactor.redact("Call Sarah Jones on 07700 900123.", "en")
    assert english.text == "Call [NAME] on [PHONE]."
    assert set(MARKERS["fi"]) == set(MARKERS["en"])


def test_language_is_detected_when_not_given(redactor: Redactor) -> None:
    assert redactor.redact("Ruoka tuli myöhässä, soita 040 123 4567.").text == (
        "Ruoka tuli myöhässä, soita [PUHELIN]."
    )
    assert redactor.redact("The food was late, call 07700 900123.").text == (
        "The food was late, call [PHONE]."
    )
    # Unsupported language: Finnish markers, no crash.
    assert redactor.redact("Ring mig på 040 123 4567, tack för hjälpen").text == (
        "Ring mig på [PUHELIN], tack för hjälpen"
    )


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    once = fi(redactor, "Soitin Korhoselle numeroon 040 123 4567.")
    assert once == "Soitin [NIMI] numeroon [PUHELIN]."
    assert fi(redactor, once) == once
    assert redactor.redact("[NIMI] [PUHELIN] [SÄHKÖPOSTI]").found == {}


def test_redact_lines_keeps_order_and_strips_line_endings(redactor: Redactor) -> None:
    lines = ["Soitin Korhoselle.\n", "Call Sarah Jones.\r\n", "😀\n", "\n", "Ruoka oli hyvää."]
    assert list(redactor.redact_lines(lines)) == [
        "Soitin [NIMI].",
        "Call [NAME].",
        "😀",
        "",
        "Ruoka oli hyvää.",
    ]
    many = [f"Rivi {i}: soita 040 123 45{i % 100:02d}." for i in range(600)]  # > one batch
    out = list(redactor.redact_lines(many))
    assert out == [f"Rivi {i}: soita [PUHELIN]." for i in range(600)]


def test_original_text_is_never_logged(
    redactor: Redactor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        redactor.redact("Soitin Korhoselle numeroon 040 123 4567.")
        list(redactor.redact_lines(["Matti Virtanen, 131052-308T"]))
    assert "Korhoselle" not in caplog.text and "040 123" not in caplog.text
    assert "131052-308T" not in caplog.text


# --- regression floor over the labelled sets ------------------------------------------------

STRUCTURED = ("PHONE", "EMAIL", "HETU", "IBAN", "ADDRESS")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["fi", "en"])
def test_recall_and_precision_floor(redactor: Redactor, lang: str) -> None:
    rows = [
        json.loads(line)
        for line in (DATA / f"redaction_{lang}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(rows) >= (200 if lang == "fi" else 100)
    texts = [r["text"] for r in rows]
    found = redactor.find(texts, [lang] * len(texts))  # the file's language: a model floor
    gold_n = {"names": 0, "structured": 0}
    hit_n = {"names": 0, "structured": 0}
    predicted = correct = 0
    for row, spans in zip(rows, found, strict=True):
        text = row["text"]
        for start, end, kind in row["spans"]:
            group = "names" if kind == "NAME" else "structured"
            gold_n[group] += 1
            # Found = every letter and digit of the gold span lies inside a redacted span.
            if all(
                not text[i].isalnum() or any(s.start <= i < s.end for s in spans)
                for i in range(start, end)
            ):
                hit_n[group] += 1
        for s in spans:
            predicted += 1
            correct += any(s.start < end and start < s.end for start, end, _ in row["spans"])
    assert hit_n["structured"] / gold_n["structured"] >= 0.95
    assert hit_n["names"] / gold_n["names"] >= 0.85
    assert correct / predicted >= 0.9
