"""A self-contained HTML view of the IR: nothing to install, collapsible by module path.

The page embeds the graph as JSON and lays it out in the browser (layers by longest path,
order by barycentre), so collapsing or expanding a module re-draws at once.
"""
from __future__ import annotations

import html
import json

from .graph_view import GraphView

_SCRIPT = r"""
(function () {
  const root = document.currentScript.parentElement;
  const data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  const collapsed = new Set(JSON.parse(root.dataset.collapsed || '[]'));
  const svgNS = 'http://www.w3.org/2000/svg';
  const fmt = n => n >= 1e9 ? (n / 1e9).toPrecision(3) + 'G' : n >= 1e6 ? (n / 1e6).toPrecision(3) + 'M' :
                   n >= 1e3 ? (n / 1e3).toPrecision(3) + 'K' : String(n);
  const prefixes = m => { const p = m ? m.split('.') : []; return p.map((_, i) => p.slice(0, i + 1).join('.')); };
  function visible() {
    const groupOf = {}, nodes = [], byId = {};
    data.nodes.forEach((n, index) => {
      const hit = prefixes(n.module).find(p => collapsed.has(p));
      if (!hit) { groupOf[n.id] = n.id; const v = Object.assign({index}, n); nodes.push(v); byId[n.id] = v; return; }
      const gid = 'group:' + hit; groupOf[n.id] = gid;
      if (!byId[gid]) { byId[gid] = {id: gid, op: hit + ' (' + 'collapsed)', kind: 'group', module: hit, shape: n.shape,
                                     quantized: false, params: 0, macs: 0, colour: '#cfd8dc', index, group: hit};
                        nodes.push(byId[gid]); }
      const g = byId[gid]; g.params += n.params; g.macs += n.macs; g.shape = n.shape; g.quantized ||= n.quantized;
    });
    const seen = new Set(), edges = [];
    data.edges.forEach(e => { const s = groupOf[e.source], t = groupOf[e.target], k = s + '>' + t;
      if (s !== t && !seen.has(k)) { seen.add(k); edges.push({source: s, target: t, label: e.label}); } });
    return {nodes, edges, byId};
  }
  function layout(g) {
    const preds = {}; g.nodes.forEach(n => preds[n.id] = []);
    g.edges.forEach(e => preds[e.target].push(e.source));
    const layer = {}; g.nodes.sort((a, b) => a.index - b.index);
    g.nodes.forEach(n => layer[n.id] = preds[n.id].length ? 1 + Math.max(...preds[n.id].map(p => layer[p] ?? 0)) : 0);
    const rows = []; g.nodes.forEach(n => (rows[layer[n.id]] ||= []).push(n));
    const x = {};
    rows.forEach(row => {
      row.forEach(n => { const ps = preds[n.id].filter(p => p in x); n.bary = ps.length ? ps.reduce((s, p) => s + x[p], 0) / ps.length : 0; });
      row.sort((a, b) => a.bary - b.bary); row.forEach((n, i) => x[n.id] = i);
    });
    const W = 200, H = 78;
    g.nodes.forEach(n => { n.x = 20 + x[n.id] * W; n.y = 20 + layer[n.id] * H; });
    return {width: 40 + W * Math.max(...rows.map(r => r.length)), height: 40 + H * rows.length};
  }
  function el(name, attrs, text) { const e = document.createElementNS(svgNS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
  function draw() {
    const g = visible(), size = layout(g), svg = root.querySelector('svg.lepton-graph');
    svg.innerHTML = ''; svg.setAttribute('width', size.width); svg.setAttribute('height', size.height);
    g.edges.forEach(e => { const a = g.byId[e.source], b = g.byId[e.target];
      const x1 = a.x + 85, y1 = a.y + 44, x2 = b.x + 85, y2 = b.y, skip = (y2 - y1) > 60 ? 110 : 0;
      svg.appendChild(el('path', {d: `M ${x1} ${y1} C ${x1 + skip} ${y1 + 30}, ${x2 + skip} ${y2 - 30}, ${x2} ${y2}`,
                                  fill: 'none', stroke: '#607d8b', 'marker-end': 'url(#arrow)'}));
      svg.appendChild(el('text', {x: (x1 + x2) / 2 + 5 + skip * 0.75, y: (y1 + y2) / 2, 'font-size': 9, fill: '#455a64',
                                  class: 'edge-label'}, e.label)); });
    g.nodes.forEach(n => { const box = el('g', {class: 'node', 'data-id': n.id, 'data-kind': n.kind});
      box.appendChild(el('rect', {x: n.x, y: n.y, width: 170, height: 44, rx: 6, fill: n.colour,
                                  stroke: n.quantized ? '#c62828' : '#78909c', 'stroke-width': n.quantized ? 2.5 : 1}));
      box.appendChild(el('text', {x: n.x + 6, y: n.y + 15, 'font-size': 11}, n.op));
      box.appendChild(el('text', {x: n.x + 6, y: n.y + 29, 'font-size': 9}, n.shape));
      box.appendChild(el('text', {x: n.x + 6, y: n.y + 40, 'font-size': 9, fill: '#37474f'},
                         (n.module || '') + (n.macs ? '  ' + fmt(n.macs) + ' MACs' : '')));
      box.appendChild(el('title', {}, n.id + (n.module ? ' @ ' + n.module : '') + (n.params ? '\nparams ' + n.params : '')));
      if (n.group) box.addEventListener('click', () => { collapsed.delete(n.group); draw(); });
      else if (n.module) box.addEventListener('click', () => { collapsed.add(prefixes(n.module)[0]); draw(); });
      svg.appendChild(box); });
    root.querySelector('.lepton-status').textContent = g.nodes.length + ' boxes shown of ' + data.nodes.length +
      ' nodes; click a box to collapse its top-level module, a grey box to expand it.';
    const list = root.querySelector('.lepton-modules'); list.innerHTML = '';
    [...new Set(data.nodes.flatMap(n => prefixes(n.module)))].sort().forEach(p => {
      const li = document.createElement('li'); const box = document.createElement('input'); box.type = 'checkbox';
      box.checked = collapsed.has(p); box.addEventListener('change', () => { box.checked ? collapsed.add(p) : collapsed.delete(p); draw(); });
      li.style.marginLeft = (p.split('.').length - 1) * 12 + 'px'; li.append(box, ' ' + p); list.appendChild(li); });
  }
  root.querySelector('.lepton-expand').addEventListener('click', () => { collapsed.clear(); draw(); });
  draw();
})();
"""

_STYLE = """
.lepton-view { display: flex; gap: 12px; font-family: Helvetica, Arial, sans-serif; }
.lepton-view aside { min-width: 200px; max-height: 80vh; overflow: auto; font-size: 12px; }
.lepton-view aside ul { list-style: none; padding-left: 0; }
.lepton-view .canvas { overflow: auto; max-height: 80vh; border: 1px solid #cfd8dc; }
.lepton-view g.node { cursor: pointer; }
"""


def graph_fragment(view: GraphView, collapsed: list[str] | None = None) -> str:
    """An embeddable <div> that draws ``view`` (used by the graph page and the HTML report)."""
    payload = json.dumps(view.to_dict()).replace("</", "<\\/")
    return (
        f'<div class="lepton-view" data-collapsed="{html.escape(json.dumps(collapsed or []))}">'
        '<aside><button class="lepton-expand">expand all</button><p>collapse modules:</p>'
        '<ul class="lepton-modules"></ul></aside>'
        '<div><p class="lepton-status"></p><div class="canvas"><svg class="lepton-graph" xmlns="http://www.w3.org/2000/svg">'
        '</svg></div></div>'
        f'<script type="application/json">{payload}</script>'
        f"<script>{_SCRIPT}</script></div>"
    )


def arrow_defs() -> str:
    return ('<svg width="0" height="0" style="position:absolute"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
            'refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
            'fill="#607d8b"/></marker></defs></svg>')


def default_collapsed(view: GraphView, limit: int = 150) -> list[str]:
    """Large graphs open with their top-level modules collapsed."""
    if len(view.nodes) <= limit:
        return []
    return sorted({n.module.split(".")[0] for n in view.nodes if n.module})


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{arrow_defs()}{body}</body></html>\n")


def to_html(view: GraphView, collapsed: list[str] | None = None) -> str:
    totals = (f"{sum(1 for n in view.nodes if n.kind not in ('input', 'output'))} ops, "
              f"{sum(n.params for n in view.nodes):,} params, {sum(n.macs for n in view.nodes):,} MACs")
    chosen = default_collapsed(view) if collapsed is None else collapsed
    return page(f"Lepton graph: {view.name}",
                f"<h1>{html.escape(view.name)}</h1><p class=\"totals\">{totals}</p>{graph_fragment(view, chosen)}")
