
from dalrn_core.search.build import build_precedent_index
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.embed import MODEL_TAG
from dalrn_core.search.index import PrecedentIndex


def test_build_index_flow_versions_the_index_by_cid(harness, embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_HOME", str(tmp_path))
    from flows.build_index import build_index

    cid = build_index(limit=40)
    index = PrecedentIndex.latest()
    assert index.cid == cid
    assert index.ids == load_precedents().precedent_id.head(40).tolist()
    assert (tmp_path / "index" / cid / "manifest.json").exists()
    # the CLI's one-call build and the flow name the same content by the same CID
    assert build_precedent_index(limit=40).cid == cid
    assert build_index(limit=40, ef_search=64) != cid
    assert index.meta["model"] == MODEL_TAG
    # the run left its corpus quality report and its embedding progress in the UI
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        # newest per key: other tests under the same harness leave artifacts with these keys too
        artifacts = {a.key: a for a in sorted(client.read_artifacts(), key=lambda a: a.created)}
    assert "passed" in artifacts["quality-precedent-corpus"].description
    assert artifacts["embed-precedents"].data == 100.0
