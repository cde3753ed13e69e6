// Checks a dispute's proof in the browser, trusting none of the server's own verdicts:
// each receipt's bytes against its CID, its Ed25519 signature by a published key, the hash
// chain (sequence and `prev` links), the anchored leaf (the head receipt's digest), the
// Merkle proof by OpenZeppelin's rules and the anchored root, then that root on the chain
// itself (the anchoring transaction's receipt and its RootAnchored log, read over JSON-RPC).
// Each result names its rule.
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { SimpleMerkleTree } from "@openzeppelin/merkle-tree";
import { processProof } from "@openzeppelin/merkle-tree/dist/core.js";
import { canonicalBytes } from "./jcs.js";
import { cidOf, digestOfCid } from "./cid.js";

const VERSIONS = { "dalrn.podp.receipt/1": "dispute_id", "dalrn.podp.receipt/2": "chain_id" };

function base64Bytes(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const strip0x = (hex) => String(hex).replace(/^0x/, "");

// One receipt's rules, in the order a verifier meets them; every broken one is reported.
function receiptProblems(receipt, bytes, position, expectedCid, previousCid, chainId, trusted) {
  const problems = [];
  const actual = cidOf(bytes);
  if (actual !== expectedCid) problems.push(["CID", `its bytes hash to ${actual}, not to the published ${expectedCid}`]);
  if (!(receipt.version in VERSIONS)) problems.push(["version", `unknown receipt version ${receipt.version}`]);
  if (receipt[VERSIONS[receipt.version]] !== chainId) problems.push(["chain", "it names another receipt chain"]);
  if (receipt.seq !== position) problems.push(["sequence", `sequence ${receipt.seq} at position ${position}`]);
  if (receipt.prev !== previousCid) problems.push(["hash chain", "'prev' does not link to the previous receipt's CID"]);
  if (!trusted.has(receipt.signer)) problems.push(["signer", `signer ${String(receipt.signer).slice(0, 16)}… is not a published key`]);
  const body = Object.fromEntries(Object.entries(receipt).filter(([k]) => k !== "signature"));
  let valid = false;
  try {
    valid = ed25519.verify(base64Bytes(receipt.signature || ""), canonicalBytes(body), hexToBytes(receipt.signer));
  } catch {
    valid = false;
  }
  if (!valid) problems.push(["Ed25519 signature", "the signature does not match the receipt's content"]);
  return problems;
}

/**
 * proof: GET /v1/proofs/{id}; keys: GET /.well-known/dalrn-receipt-keys.json;
 * fetched: [{cid, bytes}]; recorded: the tenant's receipts answer (its whole chain, root, transaction).
 * Returns [{rule, ok, detail, cid?}], one per receipt then one per proof-level rule.
 */
export function verifyDispute({ proof, keys, fetched, recorded }) {
  const results = [];
  const trusted = new Set((keys.keys || []).map((k) => k.public_key));
  const anchored = proof.receipts || [];
  // The tenant's chain may run past the anchored head (receipts for a later batch): those are
  // checked too, and said to be outside this anchor. The anchored part must be its prefix.
  const listed = (recorded && recorded.receipts) || [];
  const prefix = anchored.every((cid, i) => listed[i] === cid);
  if (!prefix) results.push({ rule: "published chain", ok: false,
    detail: "the public proof's receipts are not the start of this dispute's receipt chain" });
  const cids = prefix && listed.length >= anchored.length ? listed : anchored;
  const headIndex = anchored.length - 1;
  let chainId = null;
  let previous = null;
  let head = null;
  cids.forEach((cid, position) => {
    const item = fetched.find((f) => f.cid === cid);
    if (!item) {
      results.push({ cid, rule: "receipt", ok: false, detail: "not received from the gateway" });
      previous = cid;
      return;
    }
    let receipt;
    try {
      receipt = JSON.parse(new TextDecoder().decode(item.bytes));
    } catch {
      results.push({ cid, rule: "JSON", ok: false, detail: "the receipt is not JSON" });
      previous = cid;
      return;
    }
    if (position === 0) chainId = receipt[VERSIONS[receipt.version]];
    const problems = receiptProblems(receipt, item.bytes, position, cid, previous, chainId, trusted);
    results.push(problems.length
      ? { cid, step: receipt.step, rule: problems.map((p) => p[0]).join(", "), ok: false,
          detail: problems.map((p) => p[1]).join("; ") }
      : { cid, step: receipt.step, rule: "receipt", ok: true,
          detail: "CID, sequence, link to the previous receipt and Ed25519 signature by a published key hold" +
            (position > headIndex ? " (signed after the anchored head: it goes into a later batch)" : "") });
    previous = cid;
    if (position === headIndex) head = { cid, receipt, bytes: item.bytes };
  });

  const leaf = strip0x(proof.leaf);
  const headCid = anchored[headIndex];
  const leafOk = headCid === proof.leaf_receipt_cid && head !== null && head.cid === headCid &&
    bytesToHex(digestOfCid(headCid)) === leaf && sameBytes(sha256(canonicalBytes(head.receipt)), hexToBytes(leaf));
  results.push({ rule: "anchored leaf", ok: leafOk, detail: leafOk
    ? `the leaf ${leaf.slice(0, 16)}… is the SHA-256 digest of the head receipt ${headCid}`
    : "the anchored leaf is not the digest of the chain's head receipt" });

  let merkleOk = false;
  try {
    merkleOk = SimpleMerkleTree.verify("0x" + strip0x(proof.root), "0x" + leaf, (proof.proof || []).map((p) => "0x" + strip0x(p)));
  } catch {
    merkleOk = false;
  }
  results.push({ rule: "Merkle proof", ok: merkleOk, detail: merkleOk
    ? `${(proof.proof || []).length} sibling(s) lead from the leaf to root ${strip0x(proof.root).slice(0, 16)}… (OpenZeppelin SimpleMerkleTree: sorted pairs, keccak256)`
    : "the siblings do not lead from the leaf to the anchored root" });

  const rootOk = Boolean(recorded && recorded.merkle_root) && strip0x(recorded.merkle_root) === strip0x(proof.root) &&
    (!recorded.tx_hash || strip0x(recorded.tx_hash) === strip0x((proof.chain || {}).tx_hash));
  results.push({ rule: "anchored root", ok: rootOk, detail: rootOk
    ? `the root the proof leads to is the one recorded as anchored by transaction ${(proof.chain || {}).tx_hash} on chain ${(proof.chain || {}).chain_id}`
    : "the root or transaction differs from the one recorded for this dispute" });
  return results;
}

// contracts/src/AnchorReceipts.sol: `event RootAnchored(bytes32 indexed root, uint256 indexed batchId,
// uint32 leafCount, string manifestUri, bytes32 modelHash, uint64 flRound, address indexed anchoredBy)`.
export const ROOT_ANCHORED = "RootAnchored(bytes32,uint256,uint32,string,bytes32,uint64,address)";
export const ROOT_ANCHORED_TOPIC = "0x" + bytesToHex(keccak_256(utf8ToBytes(ROOT_ANCHORED)));

const sameHex = (a, b) => typeof a === "string" && typeof b === "string" && strip0x(a).toLowerCase() === strip0x(b).toLowerCase();

// The root the leaf and its siblings lead to (OpenZeppelin's sorted-pair keccak256), or null.
function computedRoot(proof) {
  try {
    return strip0x(processProof("0x" + strip0x(proof.leaf), (proof.proof || []).map((p) => "0x" + strip0x(p)))).toLowerCase();
  } catch {
    return null;
  }
}

// The first rule the chain's answers break, as [rule, detail], or null when all hold.
async function chainProblem(proof, root, rpc) {
  const chain = proof.chain || {};
  if (!root) return ["computed root", "the leaf and siblings lead to no root to look for on chain"];
  if (!chain.tx_hash) return ["transaction", "the proof names no anchoring transaction"];
  if (chain.chain_id !== undefined && chain.chain_id !== null) {
    const id = await rpc("eth_chainId", []);
    if (typeof id !== "string" || BigInt(id) !== BigInt(chain.chain_id)) {
      return ["chain id", `the chain answering is ${id === null || id === undefined ? "unknown" : BigInt(id)}, not chain ${chain.chain_id} of the proof`];
    }
  }
  const receipt = await rpc("eth_getTransactionReceipt", [chain.tx_hash]);
  if (!receipt) return ["transaction receipt", `the chain has no mined transaction ${chain.tx_hash}`];
  if (!sameHex(receipt.transactionHash, chain.tx_hash)) return ["transaction receipt", "the chain answered the receipt of another transaction"];
  if (receipt.status !== "0x1") return ["receipt status 0x1", `transaction ${chain.tx_hash} failed on chain (status ${receipt.status})`];
  const events = (receipt.logs || []).filter((log) => sameHex(log.address, chain.contract) &&
    sameHex((log.topics || [])[0], ROOT_ANCHORED_TOPIC));
  if (!events.length) return ["RootAnchored log", `transaction ${chain.tx_hash} emitted no RootAnchored event from the anchor contract ${chain.contract}`];
  const event = events.find((log) => sameHex(log.topics[1], root));
  if (!event) return ["anchored root on chain", `the RootAnchored event of transaction ${chain.tx_hash} anchors root ${strip0x(events[0].topics[1]).slice(0, 16)}…, not the root ${root.slice(0, 16)}… this browser computed`];
  if (chain.block_number !== undefined && chain.block_number !== null && BigInt(receipt.blockNumber) !== BigInt(chain.block_number)) {
    return ["block", `the transaction is in block ${BigInt(receipt.blockNumber)}, not block ${chain.block_number} of the proof`];
  }
  return null;
}

/**
 * The anchored root checked on the chain itself. rpc(method, params) answers a JSON-RPC read
 * (the gateway's POST /v1/proofs/chain-rpc, or any node of the proof's chain) or throws.
 * Checks: the chain id is the proof's, the anchoring transaction's receipt has status 0x1 and
 * a log from the anchor contract whose topic0 is keccak256 of the RootAnchored signature and
 * whose indexed root (topic1) is the root computed here from the leaf and its siblings.
 * Returns one {rule: "on-chain root", ok, detail}.
 */
export async function verifyAnchorOnChain({ proof, rpc }) {
  const rule = "on-chain root";
  const root = computedRoot(proof);
  let problem;
  try {
    problem = await chainProblem(proof, root, rpc);
  } catch (error) {
    problem = ["chain answer", `the chain could not be read: ${error.message}`];
  }
  const chain = proof.chain || {};
  return problem
    ? { rule, ok: false, detail: `rule ${problem[0]}: ${problem[1]}` }
    : { rule, ok: true, detail: `read on chain ${chain.chain_id}: transaction ${chain.tx_hash} succeeded (status 0x1) ` +
        `in block ${chain.block_number}, and the anchor contract ${chain.contract} emitted RootAnchored with root ` +
        `${root.slice(0, 16)}…, the one computed in this browser` };
}
