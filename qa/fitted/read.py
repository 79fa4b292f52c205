"""Read and validate a fitted.json into the typed records; anything malformed fails saying which part and why."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import numpy as np

from qa.errors import QAError
from qa.fitted.records import (
    LICENCES,
    PARTS,
    AnswerabilityFit,
    AnswerFit,
    AnswerParams,
    Dataset,
    Fitted,
    GapThreshold,
    Linear,
    Provenance,
    RankingFit,
    RankingParams,
    UnitsFit,
    VerifierFit,
    VerifierParams,
)

T = TypeVar("T", RankingParams, AnswerParams, VerifierParams)
FORMAT = 1  # fitted.json's "format"; raised when a reader of the old one would misread the new one


def parse(raw: object, source: str) -> Fitted:
    """The records of one fitted.json's content; source names the file in messages."""
    try:
        return _parse(raw, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise QAError(f"cannot read {source} ({type(exc).__name__}: {exc}); it is written by the tools/ scripts "
                      "(see tools/README.md): rerun the one that fitted the broken part") from None


def _parse(raw: object, source: str) -> Fitted:
    if not isinstance(raw, dict):
        raise TypeError("the file must hold a JSON object")
    if raw.get("format") != FORMAT:
        raise ValueError(f"format {raw.get('format')!r}, this code reads format {FORMAT}")
    unknown = set(raw) - {"format", "model_id", *PARTS}
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    ranking, answer = raw.get("ranking"), raw.get("answer")
    answerability, units, gap = raw.get("answerability"), raw.get("answer_units"), raw.get("gap_threshold")
    verifier = raw.get("verifier")
    return Fitted(
        model_id=str(raw["model_id"]), source=source,
        ranking_fit=RankingFit(_params(RankingParams, ranking["params"]), provenance(ranking["provenance"]))
        if ranking is not None else None,
        answer_fit=AnswerFit(_params(AnswerParams, answer["params"]), provenance(answer["provenance"]))
        if answer is not None else None,
        answerability=AnswerabilityFit(linear(answerability), float(answerability["intercept"]),
                                       _probability(answerability["threshold"]),
                                       provenance(answerability["provenance"]))
        if answerability is not None else None,
        answer_units=UnitsFit(linear(units), provenance(units["provenance"])) if units is not None else None,
        gap_threshold=GapThreshold(_probability(gap["threshold"]), provenance(gap["provenance"]))
        if gap is not None else None,
        verifier=VerifierFit(_params(VerifierParams, verifier["params"]), provenance(verifier["provenance"]))
        if verifier is not None else None,
    )


def linear(raw: dict[str, Any]) -> Linear:
    mean, scale, coef = (np.asarray(raw[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
    features = tuple(str(f) for f in raw["features"])
    if not len(features) == len(mean) == len(scale) == len(coef):
        raise ValueError("features, mean, scale and coef differ in length")
    if np.any(scale == 0):
        raise ValueError("a scale is 0")
    return Linear(features, mean, scale, coef)


def provenance(raw: dict[str, Any]) -> Provenance:
    datasets = tuple(Dataset(str(d["path"]), d["licence"]) for d in raw["datasets"])
    for d in datasets:
        if d.licence not in LICENCES:
            raise ValueError(f"licence {d.licence!r} of {d.path}; one of {', '.join(LICENCES)}")
        if d.path.startswith("/"):
            raise ValueError(f"data set path {d.path} is absolute; record it relative to the repository root")
    seconds = raw["fit_seconds"]
    return Provenance(tool=str(raw["tool"]), model_id=str(raw["model_id"]), datasets=datasets,
                      commit=str(raw["commit"]), fitted_at=str(raw["fitted_at"]),
                      fit_seconds=None if seconds is None else float(seconds),
                      figures={str(k): float(v) for k, v in raw["figures"].items()}, note=str(raw.get("note", "")))


def _params(cls: type[T], raw: dict[str, Any]) -> T:
    # the field types are strings ("int", "float"): the records module postpones annotations
    names = {f.name: f.type for f in fields(cls)}
    if set(raw) != set(names):
        raise ValueError(f"{cls.__name__} needs exactly {sorted(names)}, got {sorted(raw)}")
    values: dict[str, Any] = {k: _number(k, v, names[k] == "int") for k, v in raw.items()}
    return cls(**values)


def _number(name: str, value: object, whole: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
        raise ValueError(f"{name} must be {'an integer' if whole else 'a number'}, got {value!r}")
    return value if whole else float(value)


def _probability(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not 0.0 < number < 1.0:
        raise ValueError(f"{number} is not between 0 and 1")
    return number
