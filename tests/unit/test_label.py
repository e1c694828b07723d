"""Theme names: c-TF-IDF over lemmas, keywords, representative notes."""

from __future__ import annotations

import numpy as np
import pytest

from hiljainen.pipeline.identity import Theme
from hiljainen.pipeline.label import ctfidf, label_themes, representatives


def unit(rows: list[list[float]]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ctfidf_prefers_words_specific_to_the_group() -> None:
    terms = [
        ["ruoka", "kylmä", "asiakas"],
        ["ruoka", "myöhässä", "asiakas"],
        ["ruoka", "kylmä"],
        ["pysäköinti", "asiakas"],
        ["pysäköinti", "maksu", "asiakas"],
        ["pysäköinti", "maksu"],
    ]
    scored = ctfidf([[0, 1, 2], [3, 4, 5]], terms)
    assert scored[0][0][0] == "ruoka"
    assert scored[1][0][0] == "pysäköinti"
    # "asiakas" is everywhere: it ranks below the words that tell the groups apart.
    ranks = [w for w, _ in scored[0]]
    assert ranks.index("asiakas") > ranks.index("kylmä")


def test_a_word_counts_once_per_note() -> None:
    terms = [["melu", "melu", "melu", "melu"], ["siivous"], ["siivous"]]
    scored = dict(ctfidf([[0, 1, 2]], terms)[0])
    assert scored["siivous"] > scored["melu"]


def test_representatives_are_nearest_the_centre_without_duplicates() -> None:
    x = unit([[1, 0, 0], [1, 0, 0], [0.9, 0.3, 0], [0.8, 0.5, 0], [0, 1, 0]])
    reps = representatives(x, np.arange(5), np.array([1, 0, 0], np.float32), k=3)
    assert reps == (0, 2, 3)  # row 1 repeats row 0 word for word


def test_label_themes_uses_supported_words_and_keeps_ids() -> None:
    x = unit([[1, 0], [1, 0.1], [1, 0.2], [0, 1], [0.1, 1], [0.2, 1]])
    terms = [
        ["ruoka", "kylmä"],
        ["ruoka", "kylmä", "erikoinen"],
        ["ruoka", "lautanen"],
        ["melu", "yö"],
        ["melu", "yö"],
        ["melu"],
    ]
    themes = [
        Theme(5, np.array([0, 1, 2]), unit([[1, 0.1]])[0]),
        Theme(9, np.array([3, 4, 5]), unit([[0.1, 1]])[0]),
    ]
    labels = label_themes(themes, terms, x, label_words=2)
    assert labels[5].label == "ruoka, kylmä"
    assert "erikoinen" not in labels[5].keywords  # one note only: not a keyword of the theme
    assert labels[9].label == "melu, yö"
    assert len(labels[5].representatives) == 3
    assert set(labels[9].representatives) == {3, 4, 5}


def test_a_theme_with_one_shared_word_is_named_with_its_most_typical_note() -> None:
    # "toimia" (not working) alone does not say what broke: the note nearest the centre does.
    x = unit([[1, 0], [1, 0.3], [1, -0.3], [0, 1], [0.1, 1], [0.2, 1]])
    terms = [
        ["ilmanvaihto", "toimia", "kylpyhuone"],
        ["valo", "toimia", "piha"],
        ["pesukone", "toimia"],
        ["melu", "yö"],
        ["melu", "yö"],
        ["melu", "yö"],
    ]
    themes = [
        Theme(1, np.array([0, 1, 2]), unit([[1, 0]])[0]),
        Theme(2, np.array([3, 4, 5]), unit([[0.1, 1]])[0]),
    ]
    labels = label_themes(themes, terms, x)
    assert labels[1].label == "toimia, ilmanvaihto, kylpyhuone"
    assert labels[1].representatives[0] == 0
    assert labels[2].label == "melu, yö"  # no typical-note words to add: all are shared


@pytest.mark.slow
def test_finnish_inflections_name_one_word() -> None:
    from hiljainen.pipeline.linguistics import analyze

    texts = [
        "Asiakkaille tarjottu ruoka oli kylmää.",
        "Ruoan lämpötila oli liian alhainen asiakkaan mielestä.",
        "Asiakkaat valittivat kylmästä ruoasta.",
        "Pysäköintialueella ei ollut tilaa.",
        "Pysäköinti oli täynnä koko päivän.",
        "Pysäköintimaksut nousivat taas.",
    ]
    terms = [a.keywords for a in analyze(texts, ["fi"] * len(texts))]
    x = unit([[1, 0]] * 3 + [[0, 1]] * 3)
    themes = [Theme(1, np.array([0, 1, 2]), unit([[1, 0]])[0])]
    label = label_themes(themes, terms, x)[1]
    assert "ruoka" in label.keywords and "asiakas" in label.keywords
    # One word, one keyword: no "ruoan" / "ruoasta" / "asiakkaille" beside the lemmas.
    assert not {"ruoan", "ruoasta", "asiakkaille", "asiakkaat"} & set(label.keywords)
