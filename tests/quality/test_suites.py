"""The great-expectations suites accept the real corpus and catch broken tables."""

import pytest

from dalrn_core.quality.validate import DataQualityError, suite_names, validate_table
from dalrn_core.search.corpus import load_precedents


@pytest.fixture(scope="module")
def corpus():
    return load_precedents()


def test_real_corpus_passes(corpus):
    outcomes = validate_table(corpus, "precedent_corpus")
    assert outcomes and all(o.success for o in outcomes)


def test_broken_corpus_fails_with_a_report(corpus):
    bad = corpus.head(200).copy()
    bad.loc[bad.index[3], "text"] = "too short"
    bad.loc[bad.index[5], "precedent_id"] = bad.loc[bad.index[4], "precedent_id"]
    with pytest.raises(DataQualityError) as caught:
        validate_table(bad, "precedent_corpus")
    failed = {(o.expectation, o.column) for o in caught.value.outcomes if not o.success}
    assert ("expect_column_value_lengths_to_be_between", "text") in failed
    assert ("expect_column_values_to_be_unique", "precedent_id") in failed
    assert "too short" in str(caught.value)


def test_suites_are_listed():
    assert "precedent_corpus" in suite_names()


def test_failed_suite_fails_the_flow_run_with_its_report(corpus, prefect_harness):
    from prefect import flow

    from tasks.quality import check_table

    @flow
    def check(table):
        return check_table(table, "precedent_corpus")

    bad = corpus.head(150).copy()
    bad.loc[bad.index[0], "text"] = None
    state = check(bad, return_state=True)
    assert state.is_failed()
    with pytest.raises(DataQualityError, match="expect_column_values_to_not_be_null on text"):
        state.result()
    assert check(corpus.head(150)) == 150


def test_firm_tables_pass_and_a_broken_one_fails():
    from dalrn_core.fl.data import make_silos

    silos = make_silos(5, seed=0, n_rows=200)
    for table in silos:
        assert all(o.success for o in validate_table(table, "fl_silo"))
    bad = silos[0].copy()
    bad.loc[bad.index[2], "accepted"] = 3
    bad.loc[bad.index[4], "evidence_strength"] = 1.5
    with pytest.raises(DataQualityError) as caught:
        validate_table(bad, "fl_silo")
    failed = {o.column for o in caught.value.outcomes if not o.success}
    assert failed == {"accepted", "evidence_strength"}
