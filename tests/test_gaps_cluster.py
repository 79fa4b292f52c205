"""Clustering and naming of unmet questions: star clusters on real embeddings and on constructed vectors."""

from __future__ import annotations

import numpy as np

from qa.encoders import Embedder, passage_text
from qa.gaps.cluster import cluster, neighbours
from qa.gaps.labels import label_terms
from qa.gaps.report import wording_key


def _unit(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_neighbours_hold_each_row_and_only_close_ones() -> None:
    vectors = _unit([[1, 0], [0.99, 0.14], [0, 1]])
    near = neighbours(vectors, 0.95)
    assert [sorted(n.tolist()) for n in near] == [[0, 1], [0, 1], [2]]


def test_the_densest_wording_leads_and_clusters_do_not_chain() -> None:
    # a chain a - b - c: a and c are each close to b, not to each other; b is asked most, so it leads and takes both
    angles = np.radians([0, 10, 20, 90])
    vectors = _unit([[np.cos(a), np.sin(a)] for a in angles])
    threshold = float(np.cos(np.radians(12)))
    groups = cluster(vectors, np.array([1.0, 5.0, 1.0, 2.0]), threshold)
    assert [(g.leader, g.members) for g in groups] == [(1, (1, 0, 2)), (3, (3,))]
    # a and b alone: equal density, so the wording asked more often leads
    groups = cluster(vectors[:2], np.array([1.0, 3.0]), threshold)
    assert [(g.leader, g.members) for g in groups] == [(1, (1, 0))]


def test_every_row_lands_in_exactly_one_cluster() -> None:
    rng = np.random.default_rng(7)
    vectors = _unit(rng.normal(size=(2000, 16)).tolist())
    weights = rng.integers(1, 20, size=2000).astype(float)
    groups = cluster(vectors, weights, 0.6)
    members = sorted(m for g in groups for m in g.members)
    assert members == list(range(2000))
    for g in groups:
        assert all(float(vectors[g.leader] @ vectors[m]) >= 0.6 - 1e-6 for m in g.members)


def test_no_questions_no_clusters() -> None:
    assert cluster(np.zeros((0, 8), dtype=np.float32), np.zeros(0), 0.9) == []


def test_wordings_of_one_need_cluster_on_real_embeddings(embedder: Embedder) -> None:
    from qa.gaps.command import fitted_threshold

    questions = ["数字钱包里能买基金吗？", "用数字人民币钱包可以购买基金吗", "数字钱包能不能买理财基金",
                 "数字钱包可以交电费吗", "怎么用数字钱包交电费？", "数字钱包被盗刷了怎么报警"]
    vectors = embedder.encode_queries([passage_text(q) for q in questions])
    threshold = fitted_threshold("e5-torch", embedder.model_id)
    groups = cluster(vectors, np.ones(len(questions)), threshold)
    by_member = {m: i for i, g in enumerate(groups) for m in g.members}
    assert by_member[0] == by_member[1] == by_member[2]
    assert by_member[3] == by_member[4] != by_member[0]
    assert by_member[5] not in {by_member[0], by_member[3]}


def test_labels_name_what_a_cluster_shares_and_others_lack() -> None:
    clusters = [[("数字钱包能买基金吗", 3), ("数字钱包可以购买基金吗", 2)],
                [("数字钱包怎么交电费", 2), ("数字钱包交电费可以吗", 1)]]
    first, second = label_terms(clusters)
    assert first[0] == "基金" and "电费" not in first
    assert second[0] == "电费" and "基金" not in second


def test_wordings_differing_in_script_width_and_punctuation_are_one() -> None:
    same = {wording_key(text) for text in ("數字錢包能買基金嗎？", "数字钱包 能买基金吗", "数字钱包能买基金吗!")}
    assert len(same) == 1
    assert wording_key("数字钱包能买基金吗") != wording_key("数字钱包能买股票吗")
