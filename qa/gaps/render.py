"""The gaps report as JSON, as one self-contained HTML page (inline style, no script, nothing fetched), or as text."""

from __future__ import annotations

import dataclasses
import json
from importlib.resources import files

from jinja2 import Environment, select_autoescape

from qa.gaps.report import Cluster, Report


def as_json(report: Report) -> str:
    return json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2)


def as_html(report: Report) -> str:
    template = (files("qa.gaps") / "templates" / "report.html").read_text(encoding="utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(template).render(report=report, t=report.totals)


def as_text(report: Report) -> str:
    t = report.totals
    lines = [f"{t.questions} questions{' since ' + report.since if report.since else ''} in {len(report.files)} "
             f"file(s): {t.abstained} abstained; feedback: {t.helpful} helpful, {t.unhelpful} unhelpful"
             f"{f', {t.unmatched_feedback} on unknown requests' if t.unmatched_feedback else ''}",
             f"{t.gaps} unmet in {t.clusters} cluster(s); build {report.build_id or '(none)'}, "
             f"threshold {report.threshold}"]
    if report.unchecked:
        lines.append(report.unchecked)
    if t.skipped_lines:
        lines.append(f"skipped {t.skipped_lines} malformed line(s), e.g. {report.skipped_examples[0]}")
    for rank, cluster in enumerate(report.clusters, start=1):
        lines += ["", *_cluster_lines(rank, cluster)]
    if report.other_clusters:
        lines += ["", f"... and {report.other_clusters} smaller cluster(s) holding {report.other_questions} "
                      "question(s) (--limit shows more)"]
    return "\n".join(lines)


def _cluster_lines(rank: int, c: Cluster) -> list[str]:
    out = [f"{rank}. {c.label}  [{c.status.upper()}]  {c.count} ({c.abstained} abstained, {c.unhelpful} unhelpful), "
           f"{c.first_seen[:10]} .. {c.last_seen[:10]}",
           f"   typical: {c.typical}"]
    out += [f"   also:    {e}" for e in c.examples[1:]]
    out += [f"   comment: {e}" for e in c.comments]
    if c.now_answered and c.answer_source:
        out.append(f"   answer:  {c.answer}  ({c.answer_source.chunk_id})")
    if c.closest:
        out.append(f"   closest: {c.closest.chunk_id} {c.closest.text[:60]}")
    return out
