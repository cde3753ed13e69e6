// The filing and joining forms: checked in the page first, then by the API, whose own
// error message is put next to the field it names. A side's salt and commitment are made
// here, in the browser, and the salted side is offered for the party to keep.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { canonicalBytes } from "./jcs.js";

const csrf = () => document.querySelector("main").dataset.csrf;

function clearErrors(form) {
  for (const p of form.querySelectorAll("[data-error-for]")) p.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// The error paragraph for an API field, the most specific one the form has:
// "side.payoffs[1]" falls back to "side.payoffs", an unknown field to the form's own.
export function showError(form, field, message) {
  let name = field || "";
  for (;;) {
    const target = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (target) {
      target.textContent = message;
      const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
      return target;
    }
    if (!name) return null;
    const shorter = name.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
    name = shorter === name ? "" : shorter;
  }
}

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

function parseMatrix(text, rows, cols) {
  const matrix = lines(text).map((line) => line.split(/[\s,;]+/).filter(Boolean).map(Number));
  if (matrix.length !== rows) return [null, `has ${matrix.length} lines, expected ${rows} (one per row strategy)`];
  for (const [i, row] of matrix.entries()) {
    if (row.length !== cols) return [null, `line ${i + 1} has ${row.length} numbers, expected ${cols} (one per column strategy)`];
    if (row.some((x) => !Number.isFinite(x))) return [null, `line ${i + 1}: every entry must be a number`];
  }
  return [matrix, null];
}

// The browser's own constraint checks, each message put next to its field.
function constraintsHold(form) {
  let first = true;
  for (const input of form.querySelectorAll("input, textarea, select")) {
    if (!input.dataset.field || input.checkValidity()) continue;
    const label = form.querySelector(`label[for="${input.id}"]`)?.textContent || input.name;
    const hint = input.validity.patternMismatch ? "letters, digits, '.', '_' or '-', starting with a letter or digit" : input.validationMessage;
    const p = form.querySelector(`[data-error-for="${CSS.escape(input.dataset.field)}"]`);
    if (p) p.textContent = `${label}: ${hint}`;
    input.setAttribute("aria-invalid", "true");
    if (first) input.focus();
    first = false;
  }
  return first;
}

function evidenceOf(form, party) {
  return [...form.querySelectorAll("[data-evidence-index]")].map((item) => {
    const value = (name) => item.querySelector(`[name$="-${name}"]`).value.trim();
    return { id: value("id"), party, title: value("title"), text: value("text") };
  });
}

// sha256(salt || RFC 8785 JSON of {party, batna, payoffs}), as dalrn_core.dispute.sides commits a side.
export function commitmentOf(salt, party, batna, payoffs) {
  const inputs = canonicalBytes({ party, batna, payoffs });
  return bytesToHex(sha256(Uint8Array.from([...hexToBytes(salt), ...inputs])));
}

function commitSide(party, batna, payoffs) {
  const salt = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
  return { salt, commitment: commitmentOf(salt, party, batna, payoffs) };
}

function side(form, party, rows, cols) {
  const [payoffs, problem] = parseMatrix(form.elements.payoffs.value, rows, cols);
  if (problem) return [null, ["payoffs", `Your payoffs ${problem}`]];
  const batna = Number(form.elements.batna.value);
  const { salt, commitment } = commitSide(party, batna, payoffs);
  return [{ party, batna, payoffs, claim: form.elements.claim.value.trim(), evidence: evidenceOf(form, party), salt, commitment }, null];
}

function addEvidence(fieldset) {
  const items = fieldset.querySelectorAll("[data-evidence-index]");
  const index = items.length;
  const copy = items[0].cloneNode(true);
  copy.dataset.evidenceIndex = String(index);
  copy.querySelector("h3").textContent = `Evidence ${index + 1}`;
  for (const node of copy.querySelectorAll("[id], [for], [name], [data-field], [data-error-for], [aria-describedby]")) {
    for (const attr of ["id", "for", "name", "aria-describedby"]) {
      if (node.hasAttribute(attr)) node.setAttribute(attr, node.getAttribute(attr).replaceAll("evidence-0-", `evidence-${index}-`));
    }
    for (const attr of ["data-field", "data-error-for"]) {
      if (node.hasAttribute(attr)) node.setAttribute(attr, node.getAttribute(attr).replace("evidence[0]", `evidence[${index}]`));
    }
    if ("value" in node && node.tagName !== "BUTTON") node.value = "";
    if (node.classList.contains("error")) node.textContent = "";
  }
  fieldset.querySelector("[data-add-evidence]").before(copy);
  copy.querySelector("input").focus();
}

async function send(form, url, body, idempotencyKey) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf() };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const answer = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  const data = await answer.json().catch(() => ({}));
  return [answer, data];
}

function offerSide(form, sideBody, disputeId, link) {
  const outcome = form.querySelector("[data-testid=outcome]");
  outcome.textContent = "";
  const blob = new Blob([JSON.stringify(sideBody, null, 2) + "\n"], { type: "application/json" });
  const keep = document.createElement("a");
  keep.href = URL.createObjectURL(blob);
  keep.download = `${disputeId}.${sideBody.party}.side.json`;
  keep.textContent = "Download your side file (keep it: its salt proves your inputs)";
  const follow = document.createElement("a");
  follow.href = link;
  follow.textContent = "Follow the dispute";
  follow.dataset.testid = "follow";
  outcome.append("Filed. ", follow, " · ", keep);
}

function fileForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!constraintsHold(form)) return;
    const v = (name) => form.elements[name].value.trim();
    const parties = [0, 1].map((i) => ({ id: v(`party-${i}-id`), name: v(`party-${i}-name`), tenant: v(`party-${i}-tenant`) }));
    const rowIndex = Number(v("row-party"));
    const rowStrategies = lines(form.elements["row-strategies"].value);
    const colStrategies = lines(form.elements["col-strategies"].value);
    const [own, problem] = side(form, parties[0].id, rowStrategies.length, colStrategies.length);
    if (problem) return showError(form, `side.${problem[0]}`, problem[1]);
    const body = {
      id: v("dispute-id"), title: v("title"), deadline: v("deadline").length === 16 ? `${v("deadline")}:00Z` : `${v("deadline")}Z`,
      parties,
      game: { row_party: parties[rowIndex].id, col_party: parties[1 - rowIndex].id, row_strategies: rowStrategies, col_strategies: colStrategies },
      side: own,
    };
    const [answer, data] = await send(form, "/portal/api/disputes", body, form.dataset.idempotencyKey);
    if (!answer.ok) {
      const error = data.error || { message: `the gateway answered ${answer.status}` };
      if (!showError(form, error.field, error.message)) showError(form, "", error.message);
      return;
    }
    offerSide(form, own, data.dispute_id, `/disputes/${encodeURIComponent(data.dispute_id)}?tenant=${encodeURIComponent(form.dataset.tenant)}`);
  });
}

function joinForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!constraintsHold(form)) return;
    const [own, problem] = side(form, form.dataset.party, Number(form.dataset.rows), Number(form.dataset.cols));
    if (problem) return showError(form, problem[0], problem[1]);
    const dispute = encodeURIComponent(form.dataset.dispute);
    const opener = encodeURIComponent(form.dataset.opener);
    const [answer, data] = await send(form, `/portal/api/disputes/${dispute}/join?tenant=${opener}`, own);
    if (!answer.ok) {
      const error = data.error || { message: `the gateway answered ${answer.status}` };
      if (!showError(form, error.field, error.message)) showError(form, "", error.message);
      return;
    }
    offerSide(form, own, form.dataset.dispute, `/disputes/${dispute}?tenant=${opener}`);
  });
}

export function setUpForms() {
  for (const fieldset of document.querySelectorAll("[data-evidence-list]")) {
    fieldset.querySelector("[data-add-evidence]").addEventListener("click", () => addEvidence(fieldset));
  }
  const file = document.querySelector("[data-file-form]");
  if (file) fileForm(file);
  const join = document.querySelector("[data-join-form]");
  if (join) joinForm(join);
  const signin = document.querySelector("form[data-validate]");
  if (signin) signin.addEventListener("submit", (event) => {
    clearErrors(signin);
    for (const input of signin.querySelectorAll("input[required]")) {
      if (!input.checkValidity()) {
        event.preventDefault();
        const label = signin.querySelector(`label[for="${input.id}"]`).textContent;
        signin.querySelector(`[data-error-for="${input.id}"]`).textContent = `${label}: ${input.validity.patternMismatch ? "a key id is key_ followed by 16 hex digits" : input.validationMessage}`;
        input.setAttribute("aria-invalid", "true");
      }
    }
  });
}
