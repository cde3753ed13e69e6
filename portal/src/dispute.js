// The dispute page: follows the run without reloading (polling the dispute through the
// portal, which asks the API as the signed-in tenant), then shows the settlement, the memo
// with its diagram, the receipts with their CIDs, the proof and its transaction, and runs
// the verification in this browser on request.
import { drawDiagram } from "./diagram.js";
import { verifyAnchorOnChain, verifyDispute } from "./verify.js";

const FINAL = new Set(["anchored", "failed", "rejected"]);
const POLL_MS = 1500;

function node(tag, text, attrs = {}) {
  const el = document.createElement(tag);
  if (text !== undefined && text !== null) el.textContent = text;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

async function getJson(url) {
  const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (answer.status === 401) {
    window.location.href = `/?next=${encodeURIComponent(window.location.pathname + window.location.search)}`;
    throw new Error("signed out");
  }
  return [answer, await answer.json().catch(() => ({}))];
}

// Read-only JSON-RPC to the proof's chain through the gateway (public, like the proof itself).
function chainRpc(proof) {
  const chainId = (proof.chain || {}).chain_id;
  const url = "/v1/proofs/chain-rpc" + (chainId === undefined || chainId === null ? "" : `?chain_id=${encodeURIComponent(chainId)}`);
  let id = 0;
  return async (method, params) => {
    id += 1;
    const answer = await fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }) });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(`${method}: HTTP ${answer.status} ${(body.error || {}).message || ""}`.trim());
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
}

export function setUpDispute(page) {
  const id = encodeURIComponent(page.dataset.dispute);
  const opener = encodeURIComponent(page.dataset.opener);
  const explorers = JSON.parse(page.dataset.explorers || "{}");
  const base = `/portal/api/v1/disputes/${id}`;
  const q = `?tenant=${opener}`;
  const timeline = page.querySelector("[data-testid=timeline]");
  const statusEl = page.querySelector("[data-testid=status]");
  const verifyButton = page.querySelector("[data-verify]");
  const seen = new Set();
  let state = { status: statusEl.textContent.trim() };
  let receipts = null, proof = null, fetched = [];
  let memoShown = false;

  const addEvent = (key, label, when) => {
    if (seen.has(key)) return;
    seen.add(key);
    const item = node("li");
    item.append(node("span", label, { class: "what" }), " ", node("time", when ? when.replace("T", " ").slice(0, 19) : "", { datetime: when || "" }));
    // In time order: a run's receipts arrive after the status that revealed them.
    const at = Date.parse(when || "") || Date.now();
    item.dataset.at = String(at);
    const later = [...timeline.children].find((other) => Number(other.dataset.at) > at);
    timeline.insertBefore(item, later || null);
  };

  const showSettlement = (view) => {
    const box = page.querySelector("[data-testid=settlement]");
    const s = view.settlement;
    if (!s || typeof s !== "object") return;
    box.textContent = "";
    const dl = node("dl", null, { class: "facts" });
    dl.append(node("dt", "Outcome"), node("dd", s.outcome ?? JSON.stringify(s)));
    for (const [who, term] of Object.entries(s.terms || {})) {
      const payoff = (s.payoffs || {})[who];
      dl.append(node("dt", who), node("dd", payoff === undefined ? term : `${term} (payoff ${payoff})`));
    }
    box.append(dl);
  };

  const showMemo = async () => {
    if (memoShown) return;
    const answer = await fetch(`/disputes/${id}/memo.html${q}`, { credentials: "same-origin" });
    if (!answer.ok) return;
    memoShown = true;
    const box = page.querySelector("[data-testid=memo]");
    box.innerHTML = await answer.text();  // rendered by the server from Markdown with raw HTML escaped
    for (const code of box.querySelectorAll("code.language-mermaid")) {
      code.closest("pre").replaceWith(drawDiagram(code.textContent));
    }
    // The memo's own precedents section (the tenant's revealed choices), repeated in its place.
    const precedents = page.querySelector("[data-testid=precedents]");
    const heading = [...box.querySelectorAll("h2")].find((h) => h.textContent.startsWith("Precedents revealed"));
    const table = heading && heading.nextElementSibling && heading.nextElementSibling.tagName === "TABLE" ? heading.nextElementSibling : null;
    precedents.textContent = "";
    if (table) precedents.append(table.cloneNode(true));
    else precedents.append(node("p", "No precedent was revealed in this dispute. An encrypted precedent search runs with your own keys in the tenant SDK: dalrn tenant prepare, then dalrn tenant respond.", { class: "hint" }));
  };

  const showReceipts = async () => {
    const [answer, data] = await getJson(`${base}/receipts${q}`);
    if (!answer.ok || !(data.receipts || []).length) return;
    receipts = data;
    fetched = await Promise.all(data.receipts.map(async (cid) => {
      const r = await fetch(`${base}/receipts/${cid}${q}`, { credentials: "same-origin" });
      return { cid, bytes: new Uint8Array(await r.arrayBuffer()), ok: r.ok };
    }));
    const box = page.querySelector("[data-testid=receipts]");
    box.textContent = "";
    const table = node("table");
    table.append(node("caption", `${data.receipts.length} signed receipts, in chain order`));
    const head = node("tr");
    for (const h of ["#", "Step", "Time (UTC)", "CID", "Verified"]) head.append(node("th", h, { scope: "col" }));
    const thead = node("thead");
    thead.append(head);
    table.append(thead);
    const body = node("tbody");
    fetched.forEach((f, i) => {
      let receipt = {};
      try { receipt = JSON.parse(new TextDecoder().decode(f.bytes)); } catch { receipt = {}; }
      const row = node("tr", null, { "data-cid": f.cid });
      row.append(node("td", String(i)), node("td", receipt.step || "?"),
        node("td", (receipt.timestamp || "").replace("T", " ").slice(0, 19)), node("td"), node("td", "not yet", { class: "verdict" }));
      row.children[3].append(node("code", f.cid, { class: "cid" }));
      body.append(row);
      if (receipt.step) addEvent(`receipt:${f.cid}`, `receipt ${receipt.step}`, receipt.timestamp);
    });
    table.append(body);
    const wrap = node("div", null, { class: "table-wrap" });
    wrap.append(table);
    box.append(wrap);
  };

  const showProof = async (view) => {
    if (!view.proof_id) return;
    const [answer, data] = await getJson(`/v1/proofs/${encodeURIComponent(view.proof_id)}`);
    if (!answer.ok) return;
    proof = data;
    const box = page.querySelector("[data-testid=proof]");
    box.textContent = "";
    box.append(node("h3", "Merkle proof and anchor"));
    const dl = node("dl", null, { class: "facts" });
    const tx = (data.chain || {}).tx_hash;
    const explorer = explorers[String((data.chain || {}).chain_id)];
    const txCell = node("dd");
    if (tx && explorer) txCell.append(node("a", tx, { href: explorer + tx, rel: "noopener", "data-testid": "tx" }));
    else txCell.append(node("code", tx || "—", { "data-testid": "tx" }), node("span", " (this chain has no public explorer)", { class: "hint" }));
    dl.append(node("dt", "Proof id"), node("dd", data.proof_id), node("dt", "Leaf"), node("dd", data.leaf),
      node("dt", `Siblings (${(data.proof || []).length})`), node("dd", (data.proof || []).join(" ") || "none: the batch had one leaf"),
      node("dt", "Root"), node("dd", data.root, { "data-testid": "root" }), node("dt", "Chain"),
      node("dd", `${(data.chain || {}).chain_id} · contract ${(data.chain || {}).contract} · block ${(data.chain || {}).block_number}`),
      node("dt", "Transaction"), txCell, node("dt", "Public proof"));
    const link = node("dd");
    link.append(node("a", `/v1/proofs/${data.proof_id}`, { href: `/v1/proofs/${data.proof_id}` }));
    dl.append(link);
    box.append(dl);
    verifyButton.disabled = false;
  };

  const verify = async () => {
    const list = page.querySelector("[data-testid=verification]");
    list.textContent = "";
    const [, keys] = await getJson("/.well-known/dalrn-receipt-keys.json");
    const results = verifyDispute({ proof, keys, fetched, recorded: receipts });
    results.push(await verifyAnchorOnChain({ proof, rpc: chainRpc(proof) }));
    for (const r of results) {
      const text = `${r.ok ? "✓ passed" : "✗ FAILED"}: ${r.step ? `receipt ${r.step}` : r.rule}${r.ok ? "" : ` (rule: ${r.rule})`}: ${r.detail}`;
      list.append(node("li", text, { class: r.ok ? "pass" : "fail", "data-rule": r.rule }));
      if (r.cid) {
        const cell = page.querySelector(`tr[data-cid="${r.cid}"] .verdict`);
        if (cell) { cell.textContent = r.ok ? "✓ valid" : `✗ ${r.rule}`; cell.className = `verdict ${r.ok ? "pass" : "fail"}`; }
      }
    }
    const failed = results.filter((r) => !r.ok).length;
    list.prepend(node("li", failed ? `${failed} check(s) FAILED: do not rely on this record.` : `All ${results.length} checks passed in this browser.`,
      { class: failed ? "fail summary" : "pass summary", "data-testid": "verdict" }));
  };
  verifyButton.addEventListener("click", () => { verify().catch((e) => { page.querySelector("[data-testid=verification]").textContent = `Verification could not run: ${e.message}`; }); });

  const tick = async () => {
    let view;
    try {
      const [answer, data] = await getJson(`${base}${q}`);
      if (!answer.ok) return setTimeout(tick, POLL_MS * 2);
      view = data;
    } catch {
      return setTimeout(tick, POLL_MS * 2);
    }
    addEvent(`status:${view.status}`, view.status, view.updated_at);
    statusEl.textContent = view.status;
    statusEl.className = `status status-${view.status}`;
    page.querySelector("[data-testid=updated]").textContent = view.updated_at.replace("T", " ").slice(0, 19);
    page.querySelector("[data-testid=message]").textContent = view.message || "";
    const waiting = page.querySelector("[data-testid=waiting]");
    if (waiting && view.status !== "awaiting_parties") waiting.hidden = true;
    if (view.status !== state.status || (view.status === "anchored" && !proof)) {
      try {
        showSettlement(view);
        if (["resolved", "anchored"].includes(view.status)) {
          await showMemo();
          await showReceipts();
        }
        if (view.status === "anchored") await showProof(view);
      } catch (error) {
        console.error("could not show the dispute's results", error);
      }
    }
    state = view;
    if (!FINAL.has(view.status) || (view.status === "anchored" && !proof)) setTimeout(tick, POLL_MS);
  };
  tick();
}
