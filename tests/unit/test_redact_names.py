"""Names found by list and context (issue 22, second round): each rule with a case it finds and
look-alikes it must leave. Real spaCy pipelines and the real Voikko lexicon, as in production.
"""

from __future__ import annotations

import pytest

from hiljainen.pipeline.given_names import EN_GIVEN_NAMES, EN_WORD_NAMES
from hiljainen.pipeline.redact import Redactor


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    r = Redactor()
    r.redact("Lämmin kiitos Matille.", "fi")
    r.redact("Thank you, Emily.", "en")
    return r


def en(redactor: Redactor, text: str) -> str:
    return redactor.redact(text, "en").text


def fi(redactor: Redactor, text: str) -> str:
    return redactor.redact(text, "fi").text


def test_name_lists_keep_words_apart() -> None:
    assert not EN_GIVEN_NAMES & EN_WORD_NAMES
    assert {"will", "mark", "rose", "bill", "may"} <= EN_WORD_NAMES
    assert all(name.isalpha() and name.islower() for name in EN_GIVEN_NAMES | EN_WORD_NAMES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asked karen about the bins, no answer", "asked [NAME] about the bins, no answer"),
        ("emma said lunch would be late", "[NAME] said lunch would be late"),
        ("me and john waited ages for the van", "me and [NAME] waited ages for the van"),
        ("Dave fixed the door at last.", "[NAME] fixed the door at last."),
    ],
)
def test_english_given_names_in_any_case(redactor: Redactor, text: str, expected: str) -> None:
    assert en(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi rose, the parcel is here", "hi [NAME], the parcel is here"),
        ("we told mark the boiler is broken", "we told [NAME] the boiler is broken"),
        ("thank you bill for the lift", "thank you [NAME] for the lift"),
        ("Hi Will, the key is ready.", "Hi [NAME], the key is ready."),
    ],
)
def test_names_that_are_words_in_a_naming_context(redactor: Redactor, text: str, expected: str) -> None:
    assert en(redactor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The rose bushes were cut far too short.",
        "will you ring me back tomorrow",
        "I hope may brings better weather.",
        "Mark the form please, it has no date.",
        "The bill came with the post.",
        "we said our prayers with grace",
        "Residents would like more music sessions.",  # an inflected word, not an unknown one
        "Deliveries come to the side door on Sundays.",
    ],
)
def test_english_words_that_are_names_stay(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text, "en")
    assert result.found == {} and result.text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("moi anu, pyykit on kuivumassa", "moi [NIMI], pyykit on kuivumassa"),
        ("kiitti eki avusta", "kiitti [NIMI] avusta"),  # three letters: counts after a greeting
        ("Terveisiä Liisalle ja Pekalle!", "Terveisiä [NIMI] ja [NIMI]!"),
    ],
)
def test_finnish_greeting_names_who_it_greets(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected


@pytest.mark.parametrize(
    "text",
    ["Kiitos, ilta oli tosi kiva.", "hei kaikki, sauna on lämmin", "kiitos avusta ja terveiset kaikille"],
)
def test_finnish_greeting_before_everyday_words(redactor: Redactor, text: str) -> None:
    assert fi(redactor, text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("matt jones from the office phoned", "[NAME] from the office phoned"),
        ("susan wright rang about her mother", "[NAME] rang about her mother"),
        ("sarah said the van was late", "[NAME] said the van was late"),  # "said" stays
    ],
)
def test_lower_case_surname_after_first_name(redactor: Redactor, text: str, expected: str) -> None:
    assert en(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Siivooja Adebayo jätti oven auki.", "fi", "Siivooja [NIMI] jätti oven auki."),
        ("Eilen Olusegun ei tiennyt ovikoodia.", "fi", "Eilen [NIMI] ei tiennyt ovikoodia."),
        ("Tariq fixed the fridge on Friday.", "en", "[NAME] fixed the fridge on Friday."),
        ("The meal came late, Nwosu said.", "en", "The meal came late, [NAME] said."),  # NER: ORG
        # The price of the rule: a firm no lexicon knows goes too (words kept stay >= 0.99).
        ("Tesco delivered the wrong groceries again.", "en", "[NAME] delivered the wrong groceries again."),
    ],
)
def test_word_no_lexicon_knows_is_a_name(redactor: Redactor, text: str, lang: str, expected: str) -> None:
    result = redactor.redact(text, lang)
    assert result.text == expected and not result.uncertain


def test_a_word_glued_to_markup_is_no_name(redactor: Redactor) -> None:
    text = '<script>alert("x")</script> <b>Hei</b> & kiitos'
    assert redactor.redact(text, "fi").text == text


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Aleksi ja Emmi olivat illalla vuorossa.", "fi", "[NIMI] ja [NIMI] olivat illalla vuorossa."),
        ("kiitos kovasti pia ja oona!", "fi", "kiitos kovasti [NIMI] ja [NIMI]!"),
        ("thanks so much becky for the lift", "en", "thanks so much [NAME] for the lift"),
        ("meidän ella sai väärät lääkkeet", "fi", "meidän [NIMI] sai väärät lääkkeet"),
        ("carer nkechi was brilliant", "en", "carer [NAME] was brilliant"),
        ("Cleaner Abimbola did a great job.", "en", "Cleaner [NAME] did a great job."),
        # The name reading decides: "Sannalle" is also the noun "santa", but Sanna is no word.
        ("Sannalle soitettiin kahdesti.", "fi", "[NIMI] soitettiin kahdesti."),
    ],
)
def test_names_joined_greeted_or_owned(redactor: Redactor, text: str, lang: str, expected: str) -> None:
    assert redactor.redact(text, lang).text == expected


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Aamulla ja illalla oli hiljaista.", "fi"),  # everyday words joined by "ja"
        ("Onni ja ilo olivat läsnä juhlassa.", "fi"),
        ("Meri-ilma teki hyvää.", "fi"),  # a compound Voikko also reads as a name (Meri)
        ("Bill came to 45 pounds which is too much.", "en"),  # a word-name opening a sentence
        ("Frank feedback: the food was bland.", "en"),
    ],
)
def test_joined_or_opening_everyday_words_stay(redactor: Redactor, text: str, lang: str) -> None:
    result = redactor.redact(text, lang)
    assert result.found == {} and result.text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kev said the van broke down", "[NAME] said the van broke down"),  # a short form
        ("hiya zuri, your parcel is here", "hiya [NAME], your parcel is here"),  # no lexicon knows it
        ("talked to ngozi about the noise", "talked to [NAME] about the noise"),
        ("spoke with rose about the rota", "spoke with [NAME] about the rota"),
    ],
)
def test_short_forms_and_unknown_words_where_one_is_named(
    redactor: Redactor, text: str, expected: str
) -> None:
    assert en(redactor, text) == expected


@pytest.mark.parametrize(
    "text", ["talked to the manager about the noise", "went with hope in my heart", "hiya, lunch was late"]
)
def test_naming_context_before_words_stays(redactor: Redactor, text: str) -> None:
    assert en(redactor, text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kelly brown from flat 9 rang", "[NAME] from flat 9 rang"),  # a surname that is a word
        ("tom baker made the tea", "[NAME] made the tea"),
        ("the brown bread was stale", "the brown bread was stale"),  # no first name before it
    ],
)
def test_surname_that_is_a_word_after_a_first_name(redactor: Redactor, text: str, expected: str) -> None:
    assert en(redactor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ari sano et kuski tulee huomenna", "[NIMI] sano et kuski tulee huomenna"),  # only a name
        ("moi jonski, kiitti avusta", "moi [NIMI], kiitti avusta"),  # a nickname after a greeting
        ("aina sama juttu aamulla", "aina sama juttu aamulla"),  # a word first, then a name (Aina)
        ("moi kaikki, sauna on lämmin", "moi kaikki, sauna on lämmin"),  # a known word
    ],
)
def test_finnish_lower_case_names_opening_or_greeted(redactor: Redactor, text: str, expected: str) -> None:
    assert fi(redactor, text) == expected
