"""Write one fitted part with its provenance into qa/fitted/<slug>/fitted.json: used by the tools/ scripts only."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.fitted import FILE, fitted_dir, read_fitted
from qa.fitted.read import FORMAT, parse
from qa.fitted.records import (
    PARTS,
    AnswerabilityFit,
    AnswerFit,
    Dataset,
    GapThreshold,
    Licence,
    Linear,
    Provenance,
    RankingFit,
    UnitsFit,
    VerifierFit,
)

Part = RankingFit | AnswerFit | AnswerabilityFit | UnitsFit | GapThreshold | VerifierFit
ROOT = Path(__file__).resolve().parents[2]  # the repository the tools run in
BENCH = ROOT.parent / "shared" / "bench"  # the shared data, ../shared/bench from the repository root
# licence class of each set in ../shared/bench (see its README): DRCD is CC BY-SA, the others are for research
BENCH_LICENCES: dict[str, Licence] = {"drcd": "free", "lcqmc": "research-only", "afqmc": "research-only",
                                      "pairs": "research-only"}
# files of ../shared/bench/pairs whose publishers let anyone use them (pairs/README.md); the rest is research-only
FREE_PAIRS = ("pawsx-zh-dev.tsv", "stsb-zh-train.txt", "stsb-zh-dev.txt", "cmnli-dev.txt")
# a set tools/drcd.py prepared into the cache directory stands for the DRCD questions it was made from
PREPARED = {"drcd": "../shared/bench/drcd/questions.jsonl", "oppo-faq": "../shared/bench/pairs/oppo-xiaobu-dev.txt"}


class Clock:
    """Started when a fit starts; provenance() records how long it took and what it read."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def provenance(self, tool: str, model_id: str, datasets: list[Path | str], figures: dict[str, float],
                   note: str = "") -> Provenance:
        return Provenance(tool=tool, model_id=model_id, datasets=tuple(dict.fromkeys(map(dataset, datasets))),
                          commit=git_commit(), fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
                          fit_seconds=round(time.perf_counter() - self.started, 1),
                          figures={k: round(float(v), 4) for k, v in figures.items()}, note=note)


def dataset(path: Path | str) -> Dataset:
    """A data set read by a fit, named relative to the repository, with its licence class."""
    name = repo_path(path)
    if name.startswith("../shared/bench/pairs/") and name.rsplit("/", 1)[-1] in FREE_PAIRS:
        return Dataset(name, "free")
    if name.startswith("../shared/bench/"):
        return Dataset(name, BENCH_LICENCES[name.split("/")[3]])
    if name.startswith(("eval/", "corpus/")):
        return Dataset(name, "free")  # the project's own questions and corpus
    for source, original in PREPARED.items():
        if name.startswith(".cache/") and source in name:
            return dataset(ROOT / original)
    raise QAError(f"{name}: no licence class is known for it; fit from eval/, corpus/ or ../shared/bench "
                  "(or add the set to qa/fitted/write.py with its licence)")


def repo_path(path: Path | str) -> str:
    """A data set's path relative to the repository root (../shared/bench/... for the shared data)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        parent = ROOT.parent
        if resolved.is_relative_to(parent):
            return "../" + resolved.relative_to(parent).as_posix()
        raise QAError(f"{path} lies outside the repository and its parent directory; fit from data under "
                      "../shared/bench or the repository, so the provenance can name it") from None


def git_commit() -> str:
    """HEAD of the repository, marked "+dirty" when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise QAError(f"cannot read the git commit of {ROOT} ({exc}); fit from a git checkout") from None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def write_part(model_id: str, name: str, part: Part, directory: Path | None = None) -> Path:
    """Set one part of the model's fitted.json (created if need be), keeping the others; returns the file."""
    if name not in PARTS:
        raise ValueError(f"unknown part {name!r}; one of {', '.join(PARTS)}")
    path = (directory or fitted_dir(model_id)) / FILE
    read_fitted(path, model_id)  # refuses a file of another model before it is changed
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    raw = {"format": FORMAT, "model_id": model_id, **{k: v for k, v in raw.items() if k in PARTS}}
    raw[name] = to_json(part)
    ordered = {k: raw[k] for k in ("format", "model_id", *PARTS) if k in raw}
    parse(ordered, str(path))  # what is written reads back
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def to_json(part: Part) -> dict[str, Any]:
    """The JSON form of a part: parameters or weights beside their provenance."""
    out: dict[str, Any]
    if isinstance(part, RankingFit | AnswerFit | VerifierFit):
        out = {"params": asdict(part.params)}
    elif isinstance(part, AnswerabilityFit):
        out = {**_linear(part.weights), "intercept": round(part.intercept, 6), "threshold": round(part.threshold, 6)}
    elif isinstance(part, UnitsFit):
        out = _linear(part.weights)
    else:
        out = {"threshold": part.threshold}
    return {**out, "provenance": asdict(part.provenance)}


def _linear(weights: Linear) -> dict[str, Any]:
    return {"features": list(weights.features), "mean": weights.mean.round(6).tolist(),
            "scale": weights.scale.round(6).tolist(), "coef": weights.coef.round(6).tolist()}
