// Draws the memo's causal influence diagram from its Mermaid text (the subset DALRN writes:
// `nK["label"]` decisions, `nK(["label"])` chance nodes, `nK{{"label"}}` utilities,
// `nA --> nB` edges) as an SVG, one layer per longest path from the inputs, with a text
// list of the edges beside it for screen readers.
const SVG = "http://www.w3.org/2000/svg";
const SHAPES = [[/^(n\d+)\{\{"(.*)"\}\}$/, "utility"], [/^(n\d+)\(\["(.*)"\]\)$/, "chance"], [/^(n\d+)\["(.*)"\]$/, "decision"]];
const FILL = { decision: "#dbeafe", chance: "#fef9c3", utility: "#dcfce7" };
const STROKE = { decision: "#1d4ed8", chance: "#854d0e", utility: "#15803d" };

function unescapeLabel(text) {
  return text.replace(/<br\/>/g, " ").replace(/#quot;/g, '"').replace(/#lt;/g, "<").replace(/#gt;/g, ">")
    .replace(/#96;/g, "`").replace(/#amp;/g, "&");
}

export function parseMermaid(text) {
  const nodes = new Map();
  const edges = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const edge = line.match(/^(n\d+) --> (n\d+)$/);
    if (edge) { edges.push([edge[1], edge[2]]); continue; }
    for (const [pattern, kind] of SHAPES) {
      const m = line.match(pattern);
      if (m) { nodes.set(m[1], { id: m[1], kind, label: unescapeLabel(m[2]) }); break; }
    }
  }
  return { nodes, edges };
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawDiagram(text) {
  const { nodes, edges } = parseMermaid(text);
  const layer = new Map([...nodes.keys()].map((id) => [id, 0]));
  for (let pass = 0; pass < nodes.size; pass++) {
    for (const [a, b] of edges) layer.set(b, Math.max(layer.get(b) ?? 0, (layer.get(a) ?? 0) + 1));
  }
  const rows = [];
  for (const [id, depth] of layer) (rows[depth] ||= []).push(id);
  const W = 170, H = 54, GX = 20, GY = 60;
  const width = Math.max(...rows.map((r) => r.length)) * (W + GX) + GX;
  const height = rows.length * (H + GY) + GY / 2;
  const at = new Map();
  rows.forEach((ids, depth) => ids.forEach((id, i) => {
    const offset = (width - ids.length * (W + GX) + GX) / 2;
    at.set(id, { x: offset + i * (W + GX), y: GY / 2 + depth * (H + GY) });
  }));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "diagram-title", class: "diagram" });
  svg.append(el("title", { id: "diagram-title" }, "Causal influence diagram of the settlement"));
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#374151" }));
  defs.append(marker);
  svg.append(defs);
  for (const [a, b] of edges) {
    const p = at.get(a), q = at.get(b);
    if (!p || !q) continue;
    svg.append(el("line", { x1: p.x + W / 2, y1: p.y + H, x2: q.x + W / 2, y2: q.y, stroke: "#374151", "marker-end": "url(#arrow)" }));
  }
  for (const node of nodes.values()) {
    const { x, y } = at.get(node.id);
    const rx = node.kind === "chance" ? H / 2 : node.kind === "utility" ? 14 : 3;
    svg.append(el("rect", { x, y, width: W, height: H, rx, fill: FILL[node.kind], stroke: STROKE[node.kind], "stroke-width": 2 }));
    const label = node.label.length > 26 ? node.label.slice(0, 25) + "…" : node.label;
    svg.append(el("text", { x: x + W / 2, y: y + H / 2 + 5, "text-anchor": "middle", "font-size": 13, fill: "#111827" }, label));
  }
  const list = document.createElement("ul");
  list.className = "edges";
  for (const [a, b] of edges) {
    const item = document.createElement("li");
    item.textContent = `${nodes.get(a)?.label} (${nodes.get(a)?.kind}) → ${nodes.get(b)?.label} (${nodes.get(b)?.kind})`;
    list.append(item);
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "The diagram's edges as text";
  details.append(summary, list);
  const figure = document.createElement("figure");
  figure.append(svg, details);
  return figure;
}
