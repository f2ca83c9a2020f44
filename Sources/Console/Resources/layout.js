// Layered (Sugiyama-style) layout of a flow's nodes, left to right. Pure: no DOM.
//
// 1. Cycles are broken by the back edges of a depth-first search (nodes and their
//    successors visited in name order, so the same flow breaks the same edges).
// 2. Longest-path layering of the resulting DAG: a node sits one layer right of its
//    right-most predecessor; a source sits one layer left of its nearest successor.
// 3. Order within a layer: by name, then a few barycenter sweeps (down, up, down), each
//    O(V + E) plus a sort per layer; ties keep the previous order, then go by name, so that
//    adding a node moves the others as little as possible.
// 4. Coordinates: x by layer; y aligns a node with its predecessors' ports where the order
//    leaves room, else stacks it under the previous node of its layer.

export const NODE_WIDTH = 200;
export const LAYER_GAP = 110;
export const NODE_GAP = 28;

/**
 * @param nodes [{name, height}] (any order)
 * @param edges [{from, to}] node names; edges to unknown nodes and self-loops are ignored
 * @param options {sweeps = 3, width = NODE_WIDTH, layerGap = LAYER_GAP, nodeGap = NODE_GAP}
 * @returns {positions: Map(name → {x, y, width, height, layer, order}), layers: [[name]], back: Set("from\u0000to"), width, height}
 */
export function layout(nodes, edges, options = {}) {
  const sweeps = options.sweeps ?? 3;
  const nodeWidth = options.width ?? NODE_WIDTH;
  const layerGap = options.layerGap ?? LAYER_GAP;
  const nodeGap = options.nodeGap ?? NODE_GAP;

  const sorted = nodes.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const n = sorted.length;
  const index = new Map();
  sorted.forEach((node, i) => index.set(node.name, i));
  const heights = sorted.map((node) => node.height ?? 60);

  // Adjacency (deduplicated, in target-name order).
  const outs = Array.from({ length: n }, () => []);
  const seen = new Set();
  for (const edge of edges) {
    const u = index.get(edge.from), v = index.get(edge.to);
    if (u === undefined || v === undefined || u === v) continue;
    const key = u * n + v;
    if (seen.has(key)) continue;
    seen.add(key);
    outs[u].push(v);
  }
  for (const list of outs) list.sort((a, b) => a - b);

  // 1. Depth-first search, iterative, marking back edges.
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const back = new Set();
  const dagOuts = Array.from({ length: n }, () => []);
  const stackNode = new Int32Array(n);
  const stackNext = new Int32Array(n);
  for (let root = 0; root < n; root++) {
    if (state[root]) continue;
    let top = 0;
    stackNode[0] = root; stackNext[0] = 0; state[root] = 1;
    while (top >= 0) {
      const u = stackNode[top];
      const list = outs[u];
      if (stackNext[top] < list.length) {
        const v = list[stackNext[top]++];
        if (state[v] === 1) { back.add(sorted[u].name + '\u0000' + sorted[v].name); continue; }
        dagOuts[u].push(v);
        if (state[v] === 0) { state[v] = 1; top++; stackNode[top] = v; stackNext[top] = 0; }
      } else {
        state[u] = 2; top--;
      }
    }
  }

  // 2. Longest-path layering (Kahn's order over the DAG).
  const indegree = new Int32Array(n);
  for (let u = 0; u < n; u++) for (const v of dagOuts[u]) indegree[v]++;
  const layer = new Int32Array(n);
  const queue = new Int32Array(n);
  let head = 0, tail = 0;
  for (let u = 0; u < n; u++) if (indegree[u] === 0) queue[tail++] = u;
  while (head < tail) {
    const u = queue[head++];
    for (const v of dagOuts[u]) {
      if (layer[u] + 1 > layer[v]) layer[v] = layer[u] + 1;
      if (--indegree[v] === 0) queue[tail++] = v;
    }
  }
  const preds = Array.from({ length: n }, () => []);
  for (let u = 0; u < n; u++) for (const v of dagOuts[u]) preds[v].push(u);
  // A source sits just left of its nearest successor rather than in the first layer, which
  // keeps that layer short and the source's edges short.
  for (let u = 0; u < n; u++) {
    if (preds[u].length > 0 || dagOuts[u].length === 0) continue;
    let nearest = Infinity;
    for (const v of dagOuts[u]) if (layer[v] < nearest) nearest = layer[v];
    layer[u] = nearest - 1;
  }

  let layerCount = 0;
  for (let u = 0; u < n; u++) if (layer[u] + 1 > layerCount) layerCount = layer[u] + 1;
  // Nodes without any edge (e.g. one just added) go last in the first layer, by name.
  const isolated = new Uint8Array(n);
  for (let u = 0; u < n; u++) isolated[u] = preds[u].length === 0 && dagOuts[u].length === 0 ? 1 : 0;
  const layers = Array.from({ length: layerCount }, () => []);
  for (let u = 0; u < n; u++) if (!isolated[u]) layers[layer[u]].push(u); // name order: u ascending
  for (let u = 0; u < n; u++) if (isolated[u]) layers[layer[u]].push(u);

  // 3. Barycenter sweeps on normalized positions (so long edges compare across layers).
  const pos = new Float64Array(n);
  const setPositions = (list) => {
    const size = list.length;
    for (let i = 0; i < size; i++) pos[list[i]] = (i + 0.5) / size;
  };
  for (const list of layers) setPositions(list);
  const bary = new Float64Array(n);
  const reorder = (list, neighbours) => {
    for (const u of list) {
      const near = neighbours[u];
      if (near.length === 0) { bary[u] = pos[u]; continue; }
      let sum = 0;
      for (const v of near) sum += pos[v];
      bary[u] = sum / near.length;
    }
    list.sort((a, b) => isolated[a] - isolated[b] || bary[a] - bary[b] || pos[a] - pos[b] || a - b);
    setPositions(list);
  };
  for (let s = 0; s < sweeps; s++) {
    // Down sweeps order layers 1…, up sweeps layers …0, each by its neighbours in the previous one.
    if (s % 2 === 0) for (let l = 1; l < layerCount; l++) reorder(layers[l], preds);
    else for (let l = layerCount - 2; l >= 0; l--) reorder(layers[l], dagOuts);
  }

  // 4. Coordinates.
  const y = new Float64Array(n);
  for (let l = 0; l < layerCount; l++) {
    let bottom = -Infinity;
    for (const u of layers[l]) {
      let wanted = bottom === -Infinity ? 0 : bottom + nodeGap;
      if (preds[u].length > 0) {
        let sum = 0;
        for (const v of preds[u]) sum += y[v] + heights[v] / 2;
        const aligned = sum / preds[u].length - heights[u] / 2;
        wanted = bottom === -Infinity ? aligned : Math.max(wanted, aligned);
      }
      y[u] = wanted;
      bottom = y[u] + heights[u];
    }
  }
  // Pull layer-0 nodes (sources) down towards their successors when there is room.
  if (layerCount > 1) {
    const first = layers[0];
    for (let i = first.length - 1; i >= 0; i--) {
      const u = first[i];
      if (dagOuts[u].length === 0) continue;
      let sum = 0;
      for (const v of dagOuts[u]) sum += y[v] + heights[v] / 2;
      const wanted = sum / dagOuts[u].length - heights[u] / 2;
      const limit = i + 1 < first.length ? y[first[i + 1]] - nodeGap - heights[u] : Infinity;
      if (wanted > y[u]) y[u] = Math.min(wanted, limit);
    }
  }

  let top = Infinity;
  for (let u = 0; u < n; u++) if (y[u] < top) top = y[u];
  if (n > 0 && top !== 0) for (let u = 0; u < n; u++) y[u] -= top;

  const positions = new Map();
  let width = 0, height = 0;
  for (let l = 0; l < layerCount; l++) {
    layers[l].forEach((u, order) => {
      const x = l * (nodeWidth + layerGap);
      positions.set(sorted[u].name, { x, y: y[u], width: nodeWidth, height: heights[u], layer: l, order });
      width = Math.max(width, x + nodeWidth);
      height = Math.max(height, y[u] + heights[u]);
    });
  }
  return { positions, layers: layers.map((list) => list.map((u) => sorted[u].name)), back, width, height };
}
