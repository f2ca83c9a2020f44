// The flow's graph in SVG: nodes laid out left to right (layout.js), ports on the sides of
// the node boxes, edges as curves labelled with their source's live rate and count.
// Built with one DOM insertion; live changes touch only the attributes and text they change.
// Pan by dragging the background, zoom with the wheel, connect by dragging from an output
// port to an input port. Nothing runs at rest: no timers, no animation frames.

import { layout, NODE_WIDTH } from './layout.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEADER = 46;
const ROW = 18;
const FOOT = 8;

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  if (attrs) for (const key in attrs) node.setAttribute(key, attrs[key]);
  if (parent) parent.appendChild(node);
  return node;
}

function shorten(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export function nodeHeight(node) {
  const rows = Math.max(node.inputs.length, node.outputs.length, 1);
  return HEADER + rows * ROW + FOOT;
}

export const STATE_LABELS = {
  ready: 'Ready',
  'not-ready': 'not Ready',
  'config-error': 'configuration error',
  unknown: 'state unknown',
};

/** The label of an edge from its source node's live numbers: "1.0/s · 42". */
export function edgeLabelText(rate, count) {
  const parts = [];
  if (typeof rate === 'number' && Number.isFinite(rate)) {
    parts.push((rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)) + '/s');
  }
  if (typeof count === 'number' && Number.isFinite(count)) parts.push(String(count));
  return parts.join(' · ');
}

export class Graph {
  /**
   * @param svg the <svg> element
   * @param callbacks {select(name), open(name), remove(name), selectEdge(from, id),
   *   removeEdge(from, id), connect(from, port, toNode, toPort), escape()}
   */
  constructor(svg, callbacks) {
    this.svg = svg;
    this.on = callbacks;
    this.view = { x: 40, y: 40, k: 1 };
    this.viewport = el('g', { class: 'viewport' }, svg);
    this.nodeEls = new Map(); // name → {g, badge, badgeTitle}
    this.edgeEls = new Map(); // from → [{g, label, id}]
    this.positions = new Map();
    this.fullNodes = new Set(); // nodes whose input channels are full
    this.portY = new Map(); // `${node}\u0000${port}` → {x, y}
    this.bounds = { width: 0, height: 0 };
    this.selectedNode = null;
    this.selectedEdge = null;
    this.rendered = false;
    this.labels = new Map(); // from → text
    this.installPointer();
    this.installKeyboard();
  }

  /**
   * Draws the whole graph. `model`: {nodes: [{name, title, subtitle, inputs, outputs,
   * hasSettings, state, message, classes}], edges: [{from, id, port, toNode, toPort, mapped}],
   * labels: Map(from → text)}; ports are `{name, label, isStatus}`.
   */
  render(model) {
    const started = performance.now();
    const byName = new Map(model.nodes.map((n) => [n.name, n]));
    const result = layout(
      model.nodes.map((n) => ({ name: n.name, height: nodeHeight(n) })),
      model.edges.filter((e) => byName.has(e.toNode)).map((e) => ({ from: e.from, to: e.toNode })),
    );
    this.positions = result.positions;
    this.bounds = { width: result.width, height: result.height };
    this.labels = model.labels || new Map();
    this.nodeEls.clear();
    this.edgeEls.clear();
    this.portY.clear();

    const fragment = document.createDocumentFragment();
    const edgeLayer = el('g', { class: 'edges' }, fragment);
    const nodeLayer = el('g', { class: 'nodes' }, fragment);
    this.overlay = el('g', { class: 'overlay' }, fragment);

    // Nodes, in layer then order (the Tab order reads left to right, top to bottom).
    for (const names of result.layers) {
      for (const name of names) this.drawNode(byName.get(name), nodeLayer);
    }
    for (const edge of model.edges) this.drawEdge(edge, edgeLayer);

    this.viewport.replaceChildren(fragment);
    if (!this.rendered) {
      this.rendered = true;
      this.initialView();
    }
    this.applyView();
    if (this.selectedNode) this.markSelected(this.selectedNode, true);
    if (this.selectedEdge) {
      const edge = this.findEdge(this.selectedEdge.from, this.selectedEdge.id);
      if (edge) edge.g.classList.add('selected'); else this.selectedEdge = null;
    }
    this.lastRenderMs = performance.now() - started;
  }

  /** Elements every node has, cloned per node: far fewer DOM calls than building each one. */
  prototypes() {
    if (this.proto) return this.proto;
    const w = NODE_WIDTH;
    const node = el('g', { tabindex: '0', role: 'button' });
    el('rect', { class: 'box', width: w, rx: 6 }, node);
    el('rect', { class: 'head', width: w, height: HEADER - 6, rx: 6 }, node);
    el('text', { class: 'title', x: 12, y: 18 }, node);
    el('text', { class: 'subtitle', x: 12, y: 34 }, node);
    el('title', null, el('circle', { class: 'badge', cx: w - 14, cy: 14, r: 6 }, node));
    const withSettings = node.cloneNode(true);
    // The gear marks a node with a settings port (_settings).
    el('text', { class: 'settings-mark', x: w - 36, y: 19, 'aria-hidden': 'true' }, withSettings).textContent = '⚙';
    this.proto = {
      node, withSettings,
      in: el('circle', { class: 'port in', cx: 0, r: 5 }),
      inStatus: el('rect', { class: 'port in status', x: -5, width: 10, height: 10 }),
      inLabel: el('text', { class: 'port-label', x: 10 }),
      inStatusLabel: el('text', { class: 'port-label status', x: 10 }),
      out: el('circle', { class: 'port out', cx: w, r: 5 }),
      outStatus: el('rect', { class: 'port out status', x: w - 5, width: 10, height: 10 }),
      outLabel: el('text', { class: 'port-label', x: w - 10, 'text-anchor': 'end' }),
      outStatusLabel: el('text', { class: 'port-label status', x: w - 10, 'text-anchor': 'end' }),
    };
    return this.proto;
  }

  drawNode(node, parent) {
    const P = this.prototypes();
    const pos = this.positions.get(node.name);
    const g = (node.hasSettings ? P.withSettings : P.node).cloneNode(true);
    g.setAttribute('class', node.classes && node.classes.length ? 'node ' + node.classes.join(' ') : 'node');
    g.setAttribute('data-node', node.name);
    g.setAttribute('transform', `translate(${pos.x},${pos.y})`);
    g.setAttribute('aria-label', `node ${node.name}, ${node.subtitle}, ${STATE_LABELS[node.state] || node.state}`);
    const [box, , title, subtitle, badge] = g.children;
    box.setAttribute('height', pos.height);
    title.textContent = shorten(node.name, 24);
    if (node.name.length > 24) el('title', null, title).textContent = node.name;
    subtitle.textContent = shorten(node.subtitle, 30);
    badge.setAttribute('data-state', node.state);
    const badgeTitle = badge.firstChild;
    badgeTitle.textContent = node.message ? `${STATE_LABELS[node.state]}: ${node.message}` : STATE_LABELS[node.state];

    // Ports: the dot carries class `port in|out` and `data-port` (the drop target when connecting).
    const ports = (list, isInput) => {
      list.forEach((port, i) => {
        const y = HEADER + i * ROW + ROW / 2;
        this.portY.set(node.name + '\u0000' + port.name, { x: isInput ? pos.x : pos.x + pos.width, y: pos.y + y });
        const dot = (port.isStatus ? (isInput ? P.inStatus : P.outStatus) : (isInput ? P.in : P.out)).cloneNode(false);
        dot.setAttribute('data-port', port.name);
        if (port.isStatus) dot.setAttribute('y', y - 5); else dot.setAttribute('cy', y);
        g.appendChild(dot);
        const label = (port.isStatus ? (isInput ? P.inStatusLabel : P.outStatusLabel) : (isInput ? P.inLabel : P.outLabel)).cloneNode(false);
        label.setAttribute('y', y + 4);
        const text = shorten(port.label || port.name, 14);
        label.textContent = port.isStatus ? (isInput ? text + ' ◇' : '◇ ' + text) : text;
        g.appendChild(label);
      });
    };
    ports(node.inputs, true);
    ports(node.outputs, false);
    parent.appendChild(g);
    this.nodeEls.set(node.name, { g, badge, badgeTitle });
  }

  drawEdge(edge, parent) {
    const from = this.portY.get(edge.from + '\u0000' + edge.port);
    const to = this.portY.get(edge.toNode + '\u0000' + edge.toPort);
    if (!from || !to) return;
    const g = el('g', {
      class: 'edge' + (edge.mapped ? ' mapped' : '') + (edge.classes ? ' ' + edge.classes.join(' ') : ''),
      'data-edge': edge.id,
      'data-from': edge.from,
      'data-to': `${edge.toNode}:${edge.toPort}`,
      tabindex: '-1',
      'aria-label': `edge ${edge.id} from ${edge.from}:${edge.port} to ${edge.toNode}:${edge.toPort}`,
    }, parent);
    const dx = Math.max(50, Math.abs(to.x - from.x) / 2);
    const c1x = from.x + dx, c2x = to.x - dx;
    const d = `M${from.x},${from.y} C${c1x},${from.y} ${c2x},${to.y} ${to.x},${to.y}`;
    el('path', { class: 'hit', d }, g);
    el('path', { class: 'line', d, 'marker-end': 'url(#arrow)' }, g);
    const mx = (from.x + 3 * c1x + 3 * c2x + to.x) / 8;
    const my = (from.y + 3 * from.y + 3 * to.y + to.y) / 8;
    const label = el('text', { class: 'edge-label', x: mx, y: my - 5, 'text-anchor': 'middle' }, g);
    label.textContent = (edge.mapped ? 'ƒ ' : '') + (this.labels.get(edge.from) || '');
    let list = this.edgeEls.get(edge.from);
    if (!list) this.edgeEls.set(edge.from, (list = []));
    list.push({ g, label, id: edge.id, mapped: edge.mapped, toNode: edge.toNode });
    if (this.fullNodes.has(edge.toNode)) g.classList.add('full');
  }

  /**
   * Marks the edges into `name` as full (its input channels are full: their senders wait)
   * or not; changes the DOM only when the state changed.
   */
  setInputsFull(name, full) {
    if (this.fullNodes.has(name) === full) return;
    if (full) this.fullNodes.add(name);
    else this.fullNodes.delete(name);
    for (const list of this.edgeEls.values()) {
      for (const edge of list) {
        if (edge.toNode !== name) continue;
        edge.g.classList.toggle('full', full);
        edge.g.setAttribute('aria-label', edge.g.getAttribute('aria-label').replace(/ \(full\)$/, '') + (full ? ' (full)' : ''));
      }
    }
  }

  /** Updates a node's badge (state and tooltip) and classes without redrawing. */
  updateNode(name, { state, message, classes }) {
    const entry = this.nodeEls.get(name);
    if (!entry) return;
    if (entry.badge.getAttribute('data-state') !== state) entry.badge.setAttribute('data-state', state);
    const text = message ? `${STATE_LABELS[state]}: ${message}` : STATE_LABELS[state];
    if (entry.badgeTitle.textContent !== text) entry.badgeTitle.textContent = text;
    if (classes) {
      for (const cls of ['invalid', 'draft-new', 'draft-edited', 'server-error']) {
        entry.g.classList.toggle(cls, classes.includes(cls));
      }
    }
    const current = entry.g.getAttribute('aria-label');
    const label = current.replace(/, [^,]*$/, `, ${STATE_LABELS[state] || state}`);
    if (label !== current) entry.g.setAttribute('aria-label', label);
  }

  /** Sets the label of every edge leaving `from`, if it changed. */
  updateEdgeLabels(from, text) {
    if (this.labels.get(from) === text) return;
    this.labels.set(from, text);
    for (const edge of this.edgeEls.get(from) || []) {
      edge.label.textContent = (edge.mapped ? 'ƒ ' : '') + text;
    }
  }

  findEdge(from, id) {
    return (this.edgeEls.get(from) || []).find((e) => e.id === id);
  }

  markSelected(name, on) {
    this.nodeEls.get(name)?.g.classList.toggle('selected', on);
  }

  selectNode(name) {
    if (this.selectedNode) this.markSelected(this.selectedNode, false);
    this.clearEdgeSelection();
    this.selectedNode = name;
    if (name) this.markSelected(name, true);
  }

  selectEdge(from, id) {
    if (this.selectedNode) this.markSelected(this.selectedNode, false);
    this.selectedNode = null;
    this.clearEdgeSelection();
    const edge = this.findEdge(from, id);
    if (!edge) return;
    this.selectedEdge = { from, id };
    edge.g.classList.add('selected');
    edge.g.focus({ preventScroll: true });
  }

  clearEdgeSelection() {
    if (this.selectedEdge) this.findEdge(this.selectedEdge.from, this.selectedEdge.id)?.g.classList.remove('selected');
    this.selectedEdge = null;
  }

  focusNode(name) {
    const entry = this.nodeEls.get(name);
    if (!entry) return;
    entry.g.focus({ preventScroll: true });
    this.reveal(name);
  }

  /** Pans so that node `name` is visible. */
  reveal(name) {
    const pos = this.positions.get(name);
    if (!pos) return;
    const rect = this.svg.getBoundingClientRect();
    const left = pos.x * this.view.k + this.view.x, top = pos.y * this.view.k + this.view.y;
    const right = left + pos.width * this.view.k, bottom = top + pos.height * this.view.k;
    if (left < 0 || top < 0 || right > rect.width || bottom > rect.height) {
      this.view.x = rect.width / 2 - (pos.x + pos.width / 2) * this.view.k;
      this.view.y = rect.height / 2 - (pos.y + pos.height / 2) * this.view.k;
      this.applyView();
    }
  }

  applyView() {
    const { x, y, k } = this.view;
    this.viewport.setAttribute('transform', `translate(${x.toFixed(2)},${y.toFixed(2)}) scale(${k.toFixed(4)})`);
  }

  fit() {
    const rect = this.svg.getBoundingClientRect();
    const width = rect.width || 800, height = rect.height || 600;
    const margin = 40;
    const bw = Math.max(this.bounds.width, NODE_WIDTH), bh = Math.max(this.bounds.height, 60);
    const k = Math.max(0.02, Math.min(1.25, (width - 2 * margin) / bw, (height - 2 * margin) / bh));
    this.view = { k, x: (width - bw * k) / 2, y: Math.max(margin, (height - bh * k) / 2) };
    this.applyView();
  }

  /** The whole flow when it is readable so; else its top-left corner at a readable scale. */
  initialView() {
    this.fit();
    if (this.view.k >= 0.45) return;
    this.view = { k: 0.6, x: 30, y: 50 };
  }

  zoomBy(factor, cx, cy) {
    const rect = this.svg.getBoundingClientRect();
    const sx = cx ?? rect.width / 2, sy = cy ?? rect.height / 2;
    const k = Math.max(0.02, Math.min(4, this.view.k * factor));
    const ratio = k / this.view.k;
    this.view = { k, x: sx - (sx - this.view.x) * ratio, y: sy - (sy - this.view.y) * ratio };
    this.applyView();
  }

  toGraph(clientX, clientY) {
    const rect = this.svg.getBoundingClientRect();
    return { x: (clientX - rect.left - this.view.x) / this.view.k, y: (clientY - rect.top - this.view.y) / this.view.k };
  }

  installPointer() {
    const svg = this.svg;
    svg.addEventListener('wheel', (event) => {
      event.preventDefault();
      const rect = svg.getBoundingClientRect();
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      this.zoomBy(Math.exp(-delta * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });

    svg.addEventListener('pointerdown', (event) => {
      if (event.button !== 0) return;
      const port = event.target.closest('.port.out');
      if (port) {
        event.preventDefault();
        this.startConnect(port, event);
        return;
      }
      if (event.target.closest('g.node') || event.target.closest('g.edge')) return;
      this.startPan(event);
    });

    svg.addEventListener('click', (event) => {
      if (this.suppressClick) { this.suppressClick = false; return; }
      const edge = event.target.closest('g.edge');
      if (edge) {
        this.selectEdge(edge.dataset.from, edge.dataset.edge);
        this.on.selectEdge(edge.dataset.from, edge.dataset.edge);
        return;
      }
      const node = event.target.closest('g.node');
      if (node) {
        this.on.open(node.dataset.node);
        return;
      }
    });
  }

  startPan(event) {
    const start = { x: event.clientX, y: event.clientY, vx: this.view.x, vy: this.view.y };
    let moved = false;
    this.svg.classList.add('panning');
    const move = (e) => {
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 3) return;
      moved = true;
      this.view.x = start.vx + dx;
      this.view.y = start.vy + dy;
      this.applyView();
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
      this.svg.classList.remove('panning');
      if (moved) this.suppressClick = true;
      else if (this.on.background) this.on.background();
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
  }

  startConnect(portEl, event) {
    const nodeEl = portEl.closest('g.node');
    const from = nodeEl.dataset.node, port = portEl.dataset.port;
    const start = this.portY.get(from + '\u0000' + port);
    if (!start) return;
    const path = el('path', { class: 'connect-line', d: '' }, this.overlay);
    this.svg.classList.add('connecting');
    let target = null;
    const move = (e) => {
      const p = this.toGraph(e.clientX, e.clientY);
      const dx = Math.max(40, Math.abs(p.x - start.x) / 2);
      path.setAttribute('d', `M${start.x},${start.y} C${start.x + dx},${start.y} ${p.x - dx},${p.y} ${p.x},${p.y}`);
      const hit = document.elementFromPoint(e.clientX, e.clientY)?.closest?.('.port.in');
      if (hit !== target) {
        target?.classList.remove('drop-target');
        target = hit && hit.closest('g.node') !== nodeEl ? hit : null;
        target?.classList.add('drop-target');
      }
    };
    const up = (e) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
      path.remove();
      this.svg.classList.remove('connecting');
      target?.classList.remove('drop-target');
      this.suppressClick = true;
      if (e.type === 'pointerup' && target) {
        this.on.connect(from, port, target.closest('g.node').dataset.node, target.dataset.port);
      }
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
    move(event);
  }

  installKeyboard() {
    this.svg.addEventListener('keydown', (event) => {
      const node = event.target.closest?.('g.node');
      const edge = event.target.closest?.('g.edge');
      if (node) {
        const name = node.dataset.node;
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          this.on.open(name);
        } else if (event.key === 'Delete' || event.key === 'Backspace') {
          event.preventDefault();
          this.on.remove(name);
        } else if (event.key === 'Escape') {
          this.on.escape();
        }
        return;
      }
      if (event.key === 'Delete' || event.key === 'Backspace') {
        const selected = edge ? { from: edge.dataset.from, id: edge.dataset.edge } : this.selectedEdge;
        if (selected) {
          event.preventDefault();
          this.on.removeEdge(selected.from, selected.id);
        }
      } else if (event.key === 'Escape') {
        this.clearEdgeSelection();
        this.on.escape();
      } else if (event.key === '+' || event.key === '=') {
        this.zoomBy(1.2);
      } else if (event.key === '-') {
        this.zoomBy(1 / 1.2);
      }
    });
  }
}
