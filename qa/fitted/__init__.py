"""Everything fitted or tuned for one embedding model, in qa/fitted/<slug>/fitted.json, looked up by model id.

slug(model_id) drops the precision suffix ("+fp32", "+bf16": the same weights on two kinds of CPU) and keeps
letters, digits and `._@-`. A model with no folder serves uncalibrated: neutral ranking and answer settings, no
answerability gate (every question gets its best passages' sentences), no `qa gaps` threshold.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from importlib import resources
from pathlib import Path

from qa.errors import QAError
from qa.fitted.read import parse
from qa.fitted.records import Fitted

logger = logging.getLogger(__name__)

FILE = "fitted.json"
ALIASES = "aliases.json"  # model ids whose vectors match another model's closely enough to share its folder


def slug(model_id: str) -> str:
    """The folder name of a model id: "e5-torch:multilingual-e5-small-q4@0.3.0+fp32" ->
    "e5-torch-multilingual-e5-small-q4@0.3.0"."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "-", model_id.split("+")[0])


def package_dir() -> Path:
    # a wheel installs the package as files on disk, so the resource root is a real directory
    return Path(str(resources.files("qa.fitted")))


def fitted_dir(model_id: str) -> Path:
    """The folder holding what was fitted for this model (or for the model it is an alias of); it may not exist."""
    return package_dir() / slug(_aliases().get(slug(model_id), model_id))


def relative_name(path: Path) -> str:
    """A file of this package as qa/fitted/..., for messages."""
    return "qa/fitted/" + path.relative_to(package_dir()).as_posix()


@functools.cache
def load_fitted(model_id: str) -> Fitted:
    """What was fitted for this model; logs once per process when nothing was (the model serves uncalibrated)."""
    fitted = read_fitted(fitted_dir(model_id) / FILE, model_id)
    if not fitted.calibrated:
        logger.warning("model %s has no fitted answerability (no %s): serving uncalibrated, with neutral ranking "
                       "and answer settings and no abstention; fit one with the tools/ scripts (tools/README.md)",
                       model_id, relative_name(fitted_dir(model_id) / FILE))
    elif fitted.verifier is None:
        logger.warning("model %s has no fitted verifier: questions are answered without reading them with their "
                       "candidates; fit one with tools/fit_verifier.py and tools/tune_verifier.py", model_id)
    return fitted


def read_fitted(path: Path, model_id: str) -> Fitted:
    """The file at path, which must record the same model (slug) as model_id; no file: nothing fitted."""
    if not path.is_file():
        return Fitted(model_id="", source=str(path))
    name = relative_name(path) if path.is_relative_to(package_dir()) else str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QAError(f"cannot read {name} ({exc}); rerun the tools/ script that wrote it") from None
    fitted = parse(raw, name)
    wanted = _aliases().get(slug(model_id), model_id)
    if slug(fitted.model_id) != slug(wanted):
        raise QAError(f"{name} records model {fitted.model_id}, not {wanted}: its parameters do not fit this "
                      "model's vectors. Move it to the folder of its model (qa.fitted.slug) or refit for this one "
                      "with the tools/ scripts (tools/README.md)")
    return fitted


@functools.cache
def _aliases() -> dict[str, str]:
    path = package_dir() / ALIASES
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {slug(k): str(v["same_as"]) for k, v in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QAError(f"cannot read qa/fitted/{ALIASES} ({exc}): each entry is "
                      '"MODEL_ID": {"same_as": "MODEL_ID", "measured": {...}}') from None
