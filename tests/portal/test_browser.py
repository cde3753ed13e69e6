"""Issue 17 in a real browser (Debian's chromium driven by Playwright) over `dalrn serve`.

Two firms: one signs in, files the example joint dispute through the form (a page-side
check and an API refusal each shown next to their field), and keeps its dispute page open;
the other signs in, finds it, files its own side; without a reload the first page follows
the run to `anchored`, shows the settlement, the memo with its causal diagram, the receipts
with their CIDs, the proof and the transaction, and verifies it in the browser, the anchored
root read on the chain itself. The same page over a network that alters one receipt reports
that receipt failed and the rules it broke; over one that names another real transaction (in
the proof and the record alike), or another root, it reports the on-chain root check failed;
the transaction is a link only for a chain with a public explorer. A third firm never sees the dispute, in a page or through the portal's door. axe-core
finds no serious or critical violation on any page, and the pages fit a phone's width.

Set DALRN_PORTAL_SCREENSHOTS=docs/portal to refresh the README's screenshots.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.gateway.test_end_to_end import _tenant, _token, served  # noqa: F401 - served is a fixture
from tests.portal import page_checks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "supply-contract-joint.json").read_text())
CHROMIUM = Path("/usr/bin/chromium")
OPENER, JOINER, STRANGER = "portal-acme", "portal-globex", "portal-initech"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make servers installs it)")
    if not page_checks.AXE.exists():
        pytest.skip("portal/node_modules is missing (make test installs it: npm ci in portal/)")

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _key(env: dict) -> tuple[str, str]:
    key_id, secret = env["DALRN_API_KEY"].split(":", 1)
    return key_id, secret


def _sign_in(context, gateway: str, env: dict):
    page = context.new_page()
    page_checks.watched(page, context.problems)
    page.goto(f"{gateway}/")
    key_id, secret = _key(env)
    page.get_by_label("Key id", exact=True).fill(key_id)
    page.get_by_label("Secret", exact=True).fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{gateway}/disputes")
    return page


def _fill_side(form, side: dict, payoffs: list[list[float]], evidence: list[dict]) -> None:
    form.get_by_label("Your BATNA (your payoff with no deal)", exact=True).fill(f"{side['batna']:g}")
    form.get_by_label("Your payoffs", exact=True).fill("\n".join(" ".join(f"{x:g}" for x in row) for row in payoffs))
    form.get_by_label("Your claim", exact=True).fill(side["claim"])
    for i, doc in enumerate(evidence):
        if i:
            form.get_by_role("button", name="Add another evidence item").click()
        form.locator(f"#evidence-{i}-id").fill(doc["id"])
        form.locator(f"#evidence-{i}-title").fill(doc["title"])
        form.locator(f"#evidence-{i}-text").fill(doc["text"])


def _error_for(form, field: str) -> str:
    return form.locator(f'[data-error-for="{field}"]').inner_text()


def _file_example(page, gateway: str) -> str:
    """File the example through the form; returns the dispute page's URL."""
    page.goto(f"{gateway}/disputes/new")
    assert page.get_by_test_id("confidential-note").is_visible()
    assert "dalrn split" in page.get_by_test_id("confidential-note").inner_text()
    form = page.locator("[data-file-form]")
    acme, globex = EXAMPLE["parties"]
    game = EXAMPLE["game"]
    form.get_by_label("Dispute id", exact=True).fill("not an id!")  # the page's own check, before anything is sent
    form.get_by_label("Title", exact=True).fill(EXAMPLE["title"])
    form.get_by_label("Deadline (UTC)", exact=True).fill("2020-01-01T00:00")  # passed: only the API knows the clock rule
    form.locator("#party-0-id").fill(acme["id"])
    form.locator("#party-0-name").fill(acme["name"])
    form.locator("#party-1-id").fill(globex["id"])
    form.locator("#party-1-name").fill(globex["name"])
    form.locator("#party-1-tenant").fill(JOINER)
    form.get_by_label("Who chooses among the row strategies", exact=True).select_option("0")
    form.get_by_label("Row strategies", exact=True).fill("\n".join(game["row_strategies"]))
    form.get_by_label("Column strategies", exact=True).fill("\n".join(game["col_strategies"]))
    _fill_side(form, acme, game["row_payoffs"], [d for d in EXAMPLE["evidence"] if d["party"] == "acme"])
    form.get_by_role("button", name="File the dispute").click()
    assert _error_for(form, "id").startswith("Dispute id: letters, digits")
    assert form.get_by_label("Dispute id", exact=True).get_attribute("aria-invalid") == "true"

    form.get_by_label("Dispute id", exact=True).fill(EXAMPLE["id"])
    form.get_by_role("button", name="File the dispute").click()
    expect(form.locator('[data-error-for="deadline"]')).not_to_be_empty()
    assert _error_for(form, "deadline") == "deadline: 2020-01-01T00:00:00+00:00 has passed"  # the API's message
    assert _error_for(form, "id") == ""

    form.get_by_label("Deadline (UTC)", exact=True).fill(EXAMPLE["deadline"][:16])
    page_checks.screenshot(page, "file")
    form.get_by_role("button", name="File the dispute").click()
    follow = page.get_by_test_id("follow")
    follow.wait_for()
    assert page.get_by_role("link", name=re.compile("Download your side file")).is_visible()
    return follow.get_attribute("href")


def _join(page, gateway: str) -> None:
    row = page.get_by_test_id("disputes").get_by_role("row").filter(has_text=EXAMPLE["id"])
    assert "awaiting_parties" in row.inner_text() and OPENER in row.inner_text()
    row.get_by_role("link", name=EXAMPLE["id"]).click()
    page.get_by_test_id("join-link").click()
    assert page.get_by_test_id("waiting").inner_text() == "globex"
    assert page_checks.serious_violations(page) == []
    page_checks.screenshot(page, "join")
    form = page.locator("[data-join-form]")
    globex = EXAMPLE["parties"][1]
    _fill_side(form, globex, EXAMPLE["game"]["col_payoffs"], [d for d in EXAMPLE["evidence"] if d["party"] == "globex"])
    form.get_by_role("button", name="File your side").click()
    page.get_by_test_id("follow").wait_for()


def _tamper_explain(route) -> None:
    """Hand the page an explain receipt whose settlement was altered on the way."""
    answer = route.fetch()
    receipt = json.loads(answer.body())
    if receipt.get("step") == "explain":
        receipt["outputs"]["settlement"]["outcome"] = "litigate / contest"
    route.fulfill(response=answer, body=json.dumps(receipt, sort_keys=True, separators=(",", ":")))


def _naming_transaction(tx_hash: str):
    """Hand the page a proof, or the dispute's record, that names transaction `tx_hash`."""
    def handler(route) -> None:
        answer = route.fetch()
        body = answer.json()
        if isinstance(body.get("chain"), dict):
            body["chain"]["tx_hash"] = tx_hash
        if "merkle_root" in body:
            body["tx_hash"] = tx_hash
        route.fulfill(response=answer, body=json.dumps(body))
    return handler


def _with_chain(fields: dict | None = None, **chain):
    """Hand the page a proof with other top-level `fields` (root, siblings) or other chain fields."""
    def handler(route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["chain"].update(chain)
        body.update(fields or {})
        route.fulfill(response=answer, body=json.dumps(body))
    return handler


def test_two_firms_file_join_follow_and_verify_a_dispute_in_the_browser(served, browser, tmp_path):  # noqa: F811
    gateway, env = served["gateway"], served["env"]
    assert f"Portal:      {gateway}/  (the parties sign in" in served["log"].read_text()  # dalrn serve says where
    firms = {name: _tenant(name, env) for name in (OPENER, JOINER, STRANGER)}
    opener_ctx, joiner_ctx, stranger_ctx = (browser.new_context() for _ in range(3))
    problems: list[str] = []
    for context in (opener_ctx, joiner_ctx, stranger_ctx):
        context.problems = problems
    try:
        opener = _sign_in(opener_ctx, gateway, firms[OPENER])
        assert opener.get_by_test_id("tenant").inner_text() == OPENER
        assert page_checks.serious_violations(opener) == []
        dispute_url = _file_example(opener, gateway)
        assert page_checks.serious_violations(opener) == []
        opener.goto(f"{gateway}{dispute_url}")
        assert opener.get_by_test_id("status").inner_text() == "awaiting_parties"

        joiner = _sign_in(joiner_ctx, gateway, firms[JOINER])
        page_checks.screenshot(joiner, "disputes")
        _join(joiner, gateway)

        # The opener's page, open since before the join, follows the run without a reload.
        status = opener.get_by_test_id("status")
        expect(status).to_have_text(re.compile("^(anchored|failed|rejected)$"), timeout=300_000)
        assert status.inner_text() == "anchored", opener.get_by_test_id("message").inner_text()
        assert opener.evaluate("performance.getEntriesByType('navigation').length") == 1
        expect(opener.get_by_test_id("waiting")).to_be_hidden()  # the join, seen without a reload
        opener.locator("[data-testid=memo] svg.diagram").wait_for()
        opener.get_by_test_id("proof").get_by_test_id("root").wait_for()
        timeline = opener.get_by_test_id("timeline").inner_text().splitlines()
        steps = [line.split(" ")[0] if not line.startswith("receipt ") else line.split(" ")[1] for line in timeline]
        assert steps[0] == "awaiting_parties" and steps[-1] == "anchored", timeline
        assert {"intake", "negotiate", "explain"} <= set(steps), timeline
        assert "Causal influence diagram" in opener.get_by_test_id("memo").inner_text()
        assert opener.get_by_test_id("precedents").inner_text().startswith("No precedent was revealed")
        settlement = opener.get_by_test_id("settlement").inner_text()
        assert "accept credit and cure" in settlement and "offer credit and relicense" in settlement

        token = _token(gateway, firms[OPENER])
        auth = {"Authorization": f"Bearer {token}"}
        recorded = httpx.get(f"{gateway}/v1/disputes/{EXAMPLE['id']}/receipts", headers=auth, timeout=30).json()
        assert opener.get_by_test_id("root").inner_text() == recorded["merkle_root"]
        assert opener.get_by_test_id("tx").inner_text() == recorded["tx_hash"]
        shown = opener.locator("[data-testid=receipts] code.cid").all_inner_texts()
        assert shown == recorded["receipts"]
        opener_steps = opener.locator("[data-testid=receipts] tbody tr td:nth-child(2)").all_inner_texts()

        opener.get_by_role("button", name="Verify in this browser").click()
        verdict = opener.get_by_test_id("verdict")
        verdict.wait_for()
        checks = len(recorded["receipts"]) + 4  # each receipt, then leaf, Merkle proof, anchored root, on-chain root
        assert verdict.inner_text() == f"All {checks} checks passed in this browser."
        on_chain = opener.locator('[data-testid=verification] li[data-rule="on-chain root"]')
        assert on_chain.get_attribute("class") == "pass"
        assert f"transaction {recorded['tx_hash']} succeeded (status 0x1)" in on_chain.inner_text()
        assert "emitted RootAnchored with root " + recorded["merkle_root"].removeprefix("0x")[:16] in on_chain.inner_text()
        # The embedded chain has no public explorer: the transaction is plain text, not a link.
        tx_cell = opener.get_by_test_id("proof").get_by_test_id("tx")
        assert tx_cell.evaluate("e => e.tagName") == "CODE" and tx_cell.get_attribute("href") is None
        assert "(this chain has no public explorer)" in opener.get_by_test_id("proof").inner_text()
        assert page_checks.serious_violations(opener) == []
        page_checks.screenshot(opener, "dispute")

        # The list's filters: by status, and by dispute id or counterparty.
        opener.goto(f"{gateway}/disputes")
        opener.get_by_label("Status", exact=True).select_option("failed")
        opener.get_by_role("button", name="Filter").click()
        assert opener.get_by_test_id("count").inner_text() == "0 of 1 disputes shown."
        opener.get_by_label("Status", exact=True).select_option("anchored")
        opener.get_by_label("Dispute id or counterparty", exact=True).fill("GLOBEX")
        opener.get_by_role("button", name="Filter").click()
        assert opener.get_by_test_id("count").inner_text() == "1 of 1 disputes shown."
        assert JOINER in opener.get_by_test_id("disputes").inner_text()

        # The same page over a network that alters the explain receipt: that receipt fails, by name.
        tampered = page_checks.watched(opener_ctx.new_page(), problems)
        tampered.route(re.compile(r".*/portal/api/v1/disputes/[^/]+/receipts/b[a-z2-7]+.*"), _tamper_explain)
        tampered.goto(f"{gateway}{dispute_url}")
        expect(tampered.get_by_role("button", name="Verify in this browser")).to_be_enabled(timeout=60_000)
        tampered.get_by_role("button", name="Verify in this browser").click()
        tampered.get_by_test_id("verdict").wait_for()
        failed = tampered.locator("[data-testid=verification] li.fail:not(.summary)")
        rules = [failed.nth(i).get_attribute("data-rule") for i in range(failed.count())]
        proof = httpx.get(f"{gateway}/v1/proofs/{recorded['proof_id']}", timeout=30).json()
        explain_is_head = shown.index(proof["leaf_receipt_cid"]) == opener_steps.index("explain")
        # The altered receipt breaks its CID and signature; as the anchored head it breaks the leaf too.
        assert rules == ["CID, Ed25519 signature"] + (["anchored leaf"] if explain_is_head else [])
        assert failed.first.inner_text().startswith("✗ FAILED: receipt explain (rule: CID, Ed25519 signature)")
        assert tampered.get_by_test_id("verdict").inner_text() == f"{len(rules)} check(s) FAILED: do not rely on this record."
        assert "✗ CID, Ed25519 signature" in tampered.locator("tr", has_text="explain").inner_text()
        page_checks.screenshot(tampered, "tampered", part="section:has(#receipts-h)")

        # A server that names another real transaction, in the proof and in the dispute's record
        # alike: only the chain itself tells, and the page says which rule it broke.
        rpc = f"{gateway}/v1/proofs/chain-rpc"
        first_block = httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                                            "params": ["0x1", False]}, timeout=30).json()["result"]
        other_tx = next(tx for tx in first_block["transactions"] if tx != recorded["tx_hash"])
        lying = page_checks.watched(opener_ctx.new_page(), problems)
        lying.route(re.compile(r".*/v1/proofs/b[a-z2-7]+$"), _naming_transaction(other_tx))
        lying.route(re.compile(r".*/portal/api/v1/disputes/[^/]+/receipts\?.*"), _naming_transaction(other_tx))
        lying.goto(f"{gateway}{dispute_url}")
        expect(lying.get_by_role("button", name="Verify in this browser")).to_be_enabled(timeout=60_000)
        assert lying.get_by_test_id("tx").inner_text() == other_tx
        lying.get_by_role("button", name="Verify in this browser").click()
        lying.get_by_test_id("verdict").wait_for()
        failed = lying.locator("[data-testid=verification] li.fail:not(.summary)")
        assert [failed.nth(i).get_attribute("data-rule") for i in range(failed.count())] == ["on-chain root"]
        assert failed.first.inner_text().startswith("✗ FAILED: on-chain root (rule: on-chain root): rule RootAnchored log: "
                                                    f"transaction {other_tx} emitted no RootAnchored event")
        assert lying.get_by_test_id("verdict").inner_text() == "1 check(s) FAILED: do not rely on this record."
        # A proof whose root and siblings were changed: the siblings lead to another root, never
        # anchored; the Merkle proof, the recorded root and the chain each disagree.
        altered = page_checks.watched(opener_ctx.new_page(), problems)
        altered.route(re.compile(r".*/v1/proofs/b[a-z2-7]+$"),
                      _with_chain({"root": "0x" + "42" * 32, "proof": ["0x" + "17" * 32]}))
        altered.goto(f"{gateway}{dispute_url}")
        expect(altered.get_by_role("button", name="Verify in this browser")).to_be_enabled(timeout=60_000)
        altered.get_by_role("button", name="Verify in this browser").click()
        altered.get_by_test_id("verdict").wait_for()
        failed = altered.locator("[data-testid=verification] li.fail:not(.summary)")
        assert [failed.nth(i).get_attribute("data-rule") for i in range(failed.count())] == [
            "Merkle proof", "anchored root", "on-chain root"]
        assert "rule anchored root on chain: " in failed.nth(2).inner_text()
        # A chain the explorer table knows (Sepolia): the transaction links to its explorer page.
        known = page_checks.watched(opener_ctx.new_page(), problems)
        known.route(re.compile(r".*/v1/proofs/b[a-z2-7]+$"), _with_chain(chain_id=11155111))
        known.goto(f"{gateway}{dispute_url}")
        link = known.get_by_test_id("proof").get_by_test_id("tx")
        expect(link).to_have_attribute("href", f"https://sepolia.etherscan.io/tx/{recorded['tx_hash']}", timeout=60_000)
        assert link.evaluate("e => e.tagName") == "A" and link.inner_text() == recorded["tx_hash"]
        for page in (lying, altered, known):
            page.close()

        # A firm the dispute does not name: no row, no page, nothing through the portal's door.
        stranger = page_checks.watched(stranger_ctx.new_page(), problems)  # signs in with the keyboard alone
        stranger.goto(f"{gateway}/")
        key_id, secret = _key(firms[STRANGER])
        for _ in range(10):
            if stranger.evaluate("document.activeElement.id") == "key_id":
                break
            stranger.keyboard.press("Tab")
        stranger.keyboard.type(key_id)
        stranger.keyboard.press("Tab")
        stranger.keyboard.type(secret)
        stranger.keyboard.press("Enter")
        stranger.wait_for_url(f"{gateway}/disputes")
        assert stranger.get_by_test_id("count").inner_text() == "0 of 0 disputes shown."
        missing = stranger.goto(f"{gateway}{dispute_url}")
        assert missing.status == 404 and stranger.get_by_test_id("api-error").inner_text() == f"no dispute {EXAMPLE['id']}"
        door = stranger.request.get(f"{gateway}/portal/api/v1/disputes/{EXAMPLE['id']}/receipts?tenant={OPENER}")
        assert door.status == 404 and door.json()["error"]["code"] == "dispute.not_found"
        cid = recorded["receipts"][0]
        door = stranger.request.get(f"{gateway}/portal/api/v1/disputes/{EXAMPLE['id']}/receipts/{cid}?tenant={OPENER}")
        assert door.status == 404

        # The receipt door hands out exactly the stored bytes of the dispute's own receipts.
        from dalrn_core.evidence.cid import cid_of

        raw = httpx.get(f"{gateway}/v1/disputes/{EXAMPLE['id']}/receipts/{cid}", headers=auth, timeout=30)
        assert raw.status_code == 200 and cid_of(raw.content) == cid
        other = httpx.get(f"{gateway}/v1/disputes/{EXAMPLE['id']}/receipts/b{'a' * 58}",
                          headers=auth, timeout=30)
        assert other.status_code == 404 and other.json()["error"]["code"] == "receipt.not_found"
        # The refusals this test provoked (the passed deadline's 422, the stranger's 404s) are the
        # only failed loads; no script error anywhere.
        refused = re.compile(r"Failed to load resource: the server responded with a status of (404|422)")
        assert [p for p in problems if not refused.search(p)] == []
    finally:
        for context in (opener_ctx, joiner_ctx, stranger_ctx):
            context.close()

    # On a phone: the list and the dispute page fit the screen's width.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
    phone.problems = problems
    try:
        page = _sign_in(phone, gateway, firms[OPENER])
        for path in ("/disputes", dispute_url):
            page.goto(f"{gateway}{path}")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        page.locator("[data-testid=memo] svg.diagram").wait_for()
        page_checks.screenshot(page, "phone-dispute", full=False)
        page.goto(f"{gateway}/")
        assert page.url == f"{gateway}/disputes"  # a live session goes straight to the list
        assert [p for p in problems if not refused.search(p)] == []
    finally:
        phone.close()
    signin = browser.new_context().new_page()
    signin.goto(f"{gateway}/")
    assert page_checks.serious_violations(signin) == []
    page_checks.screenshot(signin, "signin")
    signin.context.close()
