// The console's page: token and session, routing (#/ = flows, #/flows/NAME = one flow), the
// flow's live state from its event stream, the local draft and its deploy, and the panels.

import { takeToken, configure, api, openEvents } from './api.js';
import { Graph, edgeLabelText } from './graph.js';
import { Draft } from './draft.js';
import { NodePanel, nodeState } from './panel.js';
import { HistoryPanel, renderDiff } from './history.js';
import { DebugLog } from './debug.js';
import { Catalogue, CataloguePanel } from './catalogue.js';
import { validateNode, direction, defaultConfiguration, labelProblem, clone } from './validate.js';
import { h } from './forms.js';

const $ = (selector) => document.querySelector(selector);
const UNASSIGNED = '_unassigned';

const state = {
  refused: false,
  namespace: '',
  flow: null, // the open flow's name
  flowInfo: null,
  live: null, // whether the event stream is up (null: not opened)
  draft: null,
  events: null,
  rates: new Map(), // node → {in, out, errors}
  structure: new Map(), // node → key of what its drawing depends on
  local: new Map(), // node → Map(path → message): inputs that are not valid JSON/numbers
  serverErrors: new Map(), // node → [{path, message}] from a 422
  errors: new Map(), // node → [{path, message, warning?}]
  renderScheduled: false,
  extraInputs: null, // node → Set(port): input ports known only from the edges to them
  openAfterRender: null,
  newFlows: new Set(),
  catalogue: new Catalogue(),
  loadToken: 0,
};

let graph, panel, historyPanel, cataloguePanel, debugLog;

// ---------------------------------------------------------------------------------------
// Refusal, notices, confirmation.

function refuse() {
  if (state.refused) return;
  state.refused = true;
  state.events?.close();
  state.events = null;
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  const page = h('main', { id: 'refused', role: 'alert' },
    h('h1', { text: 'Tinyflow console' }),
    h('p', null, 'This console needs the link with its token, as printed by ',
      h('code', { text: 'tinyflow console' }), ' / ', h('code', { text: 'tinyflow up' })));
  document.body.replaceChildren(page);
  document.title = 'Tinyflow console — link with token needed';
  // The link pasted into this same tab changes only the fragment: start again with it.
  window.addEventListener('hashchange', () => {
    if (/(^#|&)token=/.test(location.hash)) location.reload();
  });
}

function notify(kind, text, details = []) {
  const area = $('#notice');
  if (!area) return;
  const item = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'notice-text' }, h('span', { text }),
      details.length ? h('ul', null, details.slice(0, 20).map((d) => h('li', {
        text: [d.node, d.field].filter(Boolean).join(' ') + (d.node || d.field ? ': ' : '') + (d.message || ''),
      }))) : null),
    h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss notification', text: '✕', onclick: () => item.remove() }));
  area.appendChild(item);
  while (area.childElementCount > 5) area.firstElementChild.remove();
  if (kind === 'success' || kind === 'info') setTimeout(() => item.remove(), 6000);
}

function notifyError(error) {
  if (state.refused || error?.status === 401) return;
  notify('error', error?.text || String(error?.message || error), error?.details || []);
}

function confirmDialog(text, okLabel = 'OK') {
  const dialog = $('#confirm-dialog');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  $('#confirm-cancel').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// ---------------------------------------------------------------------------------------
// Boot and routing.

async function boot() {
  const token = takeToken();
  if (!token) { refuse(); return; }
  configure({ token, onUnauthorized: refuse });
  try {
    await api.session();
  } catch (error) {
    if (error.status === 401) return;
    notifyError(error); // the server may still answer the rest: go on, errors show as notices
  }
  $('#app').hidden = false;
  setUp();
  window.addEventListener('hashchange', route);
  route();
}

function currentRoute() {
  const hash = location.hash.replace(/^#/, '');
  const match = hash.match(/^\/flows\/([^/?&]+)/);
  if (!match) return { view: 'flows' };
  try { return { view: 'flow', flow: decodeURIComponent(match[1]) }; } catch { return { view: 'flows' }; }
}

let routing = false;
async function route() {
  if (state.refused || routing) return;
  const next = currentRoute();
  if (next.view === 'flow' && next.flow === state.flow) return;
  if (state.flow && state.draft?.isDirty()) {
    routing = true;
    const ok = await confirmDialog(`Flow "${state.flow}" has changes that are not deployed. Leave it and lose them?`, 'Leave');
    routing = false;
    if (!ok) {
      history.replaceState(null, '', `#/flows/${encodeURIComponent(state.flow)}`);
      return;
    }
  }
  if (next.view === 'flow') openFlow(next.flow);
  else showFlows();
}

// ---------------------------------------------------------------------------------------
// The flows list.

function closeFlow() {
  state.events?.close();
  state.events = null;
  state.flow = null;
  state.flowInfo = null;
  state.live = null;
  state.draft = null;
  state.rates.clear();
  state.structure.clear();
  state.local.clear();
  state.serverErrors.clear();
  state.errors.clear();
  closeSide();
  debugLog?.clear();
}

async function showFlows() {
  closeFlow();
  document.title = 'Flows — Tinyflow console';
  $('#flow-view').hidden = true;
  $('#flow-actions').hidden = true;
  $('#flow-status').replaceChildren();
  $('#crumb-flow').textContent = '';
  $('#flows-view').hidden = false;
  const list = $('#flows');
  list.setAttribute('aria-busy', 'true');
  const token = ++state.loadToken;
  let result;
  try {
    result = await api.flows();
  } catch (error) {
    list.removeAttribute('aria-busy');
    notifyError(error);
    return;
  }
  if (token !== state.loadToken) return;
  list.removeAttribute('aria-busy');
  state.namespace = result?.namespace || '';
  $('#namespace').textContent = state.namespace ? `in namespace ${state.namespace}` : '';
  const flows = Array.isArray(result?.flows) ? result.flows : [];
  $('#flows-empty').hidden = flows.length > 0;
  list.replaceChildren(...flows.map((flow) => {
    const href = `#/flows/${encodeURIComponent(flow.name)}`;
    return h('li', { class: 'flow-item', dataset: { flow: flow.name } },
      h('a', { href, class: 'flow-name', text: flow.name === UNASSIGNED ? `${flow.name} (nodes without a flow)` : flow.name }),
      h('span', { class: 'flow-description', text: flow.description || '' }),
      h('span', { class: 'flow-nodes', text: `${flow.nodeCount ?? 0} nodes` }),
      h('span', { class: 'flow-ready', text: `${flow.readyNodes ?? 0} ready` }),
      h('span', { class: `chip health-${String(flow.health || 'Unknown').toLowerCase()}`, text: flow.health || 'Unknown' }),
      flow.paused ? h('span', { class: 'chip paused', text: 'paused' }) : h('span', { class: 'chip running', text: 'running' }),
      h('span', { class: 'muted flow-revision', text: flow.currentRevision != null ? `revision ${flow.currentRevision}` : '' }));
  }));
  // The whole row opens the flow (the link is the keyboard's way).
  for (const item of list.children) {
    item.addEventListener('click', (event) => {
      if (event.target.closest('a')) return;
      location.hash = `#/flows/${encodeURIComponent(item.dataset.flow)}`;
    });
  }
}

// ---------------------------------------------------------------------------------------
// One flow.

async function openFlow(name) {
  closeFlow();
  state.flow = name;
  state.draft = new Draft(name);
  const token = ++state.loadToken;
  document.title = `${name} — Tinyflow console`;
  $('#flows-view').hidden = true;
  $('#flow-view').hidden = false;
  $('#flow-actions').hidden = false;
  $('#crumb-flow').textContent = name;
  updateFlowStatus({ name });
  graph.rendered = false;
  renderGraph();
  updateDraftStatus();

  state.catalogue.load(api).then(() => {
    if (state.flow !== name || !state.draft) return;
    validateAll();
    for (const node of state.draft.nodes.keys()) if (checkStructure(node)) break;
    if (panel.open) panel.rebuild();
  }, () => { /* shown when the catalogue is opened */ });

  let detail;
  try {
    detail = await api.flow(name);
  } catch (error) {
    if (token !== state.loadToken) return;
    if (error.status === 404 && state.newFlows.has(name)) {
      detail = { name, nodes: [], nodeCount: 0, readyNodes: 0, health: 'Unknown', paused: false };
      notify('info', `Flow "${name}" is new: add nodes from the catalogue, then deploy.`);
    } else {
      notifyError(error);
      $('#graph-empty').textContent = error.status === 404 ? `There is no flow "${name}".` : 'The flow could not be loaded.';
      $('#graph-empty').hidden = false;
      return;
    }
  }
  if (token !== state.loadToken) return;
  if (detail.namespace) {
    state.namespace = detail.namespace;
    $('#crumb-flow').title = `namespace ${detail.namespace}`;
  }
  state.draft.load(Array.isArray(detail.nodes) ? detail.nodes : []);
  updateFlowStatus(detail);
  graph.rendered = false;
  renderGraph();
  // After the first paint: the live stream (whose first events repeat every node) and the
  // validation that marks invalid nodes.
  afterPaint(() => {
    if (token !== state.loadToken) return;
    connectEvents(name, token);
    validateAll();
  });
}

/** Runs `fn` once after the next frame is painted (or after 300 ms in a hidden tab, which paints none). */
function afterPaint(fn) {
  let done = false;
  const run = () => { if (!done) { done = true; fn(); } };
  requestAnimationFrame(() => setTimeout(run, 0));
  setTimeout(run, 300);
}

function connectEvents(name, token) {
  state.events = openEvents(name, {
    open: async (wasDown) => {
      setLive(true);
      if (!wasDown) return;
      try {
        const detail = await api.flow(name);
        if (token !== state.loadToken) return;
        state.draft.reconcile(detail.nodes || []);
        updateFlowStatus(detail);
        validateAll();
        scheduleRender();
        if (panel.open) panel.rebuild();
      } catch (error) { notifyError(error); }
    },
    down: () => setLive(false),
    flow: (summary) => { if (token === state.loadToken) updateFlowStatus(summary); },
    node: (event) => { if (token === state.loadToken) onNodeEvent(event); },
    rates: (event) => { if (token === state.loadToken) onRates(event); },
    debug: (event) => { if (token === state.loadToken) debugLog.append(event.node, event.messages); },
    problem: (event) => notify('warning', `${event.error || 'a watch failed'}${event.reason ? ` (${event.reason})` : ''}`),
  });
}

function setLive(on) {
  state.live = on;
  const live = $('#live');
  if (!live) return;
  live.dataset.live = on ? 'true' : 'false';
  live.textContent = on ? 'live' : 'reconnecting…';
  live.title = on ? 'Receiving live updates' : 'The event stream is down; reconnecting';
}

function updateFlowStatus(summary) {
  if (!summary) return;
  state.flowInfo = { ...(state.flowInfo || {}), ...summary };
  const info = state.flowInfo;
  const status = $('#flow-status');
  const health = info.health || 'Unknown';
  status.replaceChildren(...[
    h('span', { id: 'flow-health', class: `chip health-${health.toLowerCase()}`, text: health }),
    h('span', { id: 'flow-ready', class: 'muted', text: `${info.readyNodes ?? 0}/${info.nodeCount ?? 0} ready` }),
    h('span', { id: 'flow-paused', class: `chip ${info.paused ? 'paused' : 'running'}`, text: info.paused ? 'paused' : 'running', title: 'Pausing is not available yet' }),
    info.currentRevision != null ? h('span', { class: 'muted', id: 'flow-revision', text: `rev ${info.currentRevision}` }) : null,
    h('span', { id: 'live', class: 'live', dataset: { live: state.live ? 'true' : 'false' }, text: state.live === null ? '' : state.live ? 'live' : 'reconnecting…' }),
  ].filter(Boolean));
  if (info.description) status.title = info.description;
}

// ---------------------------------------------------------------------------------------
// The graph's model.

/** The component of a draft node: the catalogue's, else what its status reports. */
function componentOf(name) {
  const node = state.draft?.nodes.get(name);
  if (!node) return null;
  const spec = node.spec;
  const described = state.catalogue.component(spec.module, spec.component);
  if (described) return described;
  const status = state.draft.server.get(name)?.status;
  if (status && Array.isArray(status.ports) && status.ports.length && (!status.component?.name || status.component.name === spec.component)) {
    return { name: spec.component, description: status.component?.description || '', tags: status.component?.tags || [], ports: status.ports };
  }
  return null;
}

function targetOf(edge) {
  const to = typeof edge.to === 'string' ? edge.to : '';
  const colon = to.indexOf(':');
  return colon > 0 ? { node: to.slice(0, colon), port: to.slice(colon + 1) } : null;
}

function nodeClasses(name) {
  const draft = state.draft;
  const classes = [];
  if (!draft.server.has(name)) classes.push('draft-new');
  else if (draft.differs(name)) classes.push('draft-edited');
  if ((state.errors.get(name) || []).some((e) => !e.warning)) classes.push('invalid');
  if ((state.serverErrors.get(name) || []).length) classes.push('server-error');
  return classes;
}

function stateOf(name) {
  const server = state.draft.server.get(name);
  if (!server) return { state: 'unknown', message: 'not deployed yet' };
  return nodeState(server.status);
}

function drawing(name, extraInputs) {
  const spec = state.draft.nodes.get(name).spec;
  const ports = componentOf(name)?.ports || [];
  const inputs = ports.filter((p) => direction(p) === 'input' && !p.isSettings)
    .map((p) => ({ name: p.name, label: p.label || p.name, isStatus: !!p.isStatus }));
  const outputs = ports.filter((p) => direction(p) === 'output')
    .map((p) => ({ name: p.name, label: p.label || p.name, isStatus: !!p.isStatus }));
  for (const edge of spec.edges || []) {
    if (!outputs.some((p) => p.name === edge.port)) outputs.push({ name: edge.port, label: edge.port, isStatus: false });
  }
  for (const port of extraInputs.get(name) || []) {
    if (!inputs.some((p) => p.name === port)) inputs.push({ name: port, label: port, isStatus: false });
  }
  const hasSettings = ports.some((p) => p.isSettings) || (spec.ports || []).some((p) => p.port === '_settings');
  return {
    name,
    subtitle: `${spec.module || '?'}/${spec.component || '?'}`,
    inputs, outputs, hasSettings,
    edges: (spec.edges || []).map((e) => [e.id, e.port, e.to, e.mapping !== undefined && e.mapping !== null]),
  };
}

function inputsByTarget() {
  const extra = new Map();
  for (const [, node] of state.draft.nodes) {
    for (const edge of node.spec.edges || []) {
      const target = targetOf(edge);
      if (!target || !state.draft.nodes.has(target.node)) continue;
      if (!extra.has(target.node)) extra.set(target.node, new Set());
      extra.get(target.node).add(target.port);
    }
  }
  return extra;
}

function structureKey(d, isNew) {
  return JSON.stringify([d.subtitle, d.inputs, d.outputs, d.hasSettings, d.edges, isNew]);
}

/** Whether the node's input channels are full (backpressure): queued at capacity. */
function inputsFull(name) {
  const metrics = state.draft.server.get(name)?.status?.metrics;
  return !!metrics && metrics.queueCapacity > 0 && metrics.queued >= metrics.queueCapacity;
}

function labelOf(name) {
  const server = state.draft.server.get(name);
  if (!server) return '';
  return edgeLabelText(state.rates.get(name)?.out, server.status?.metrics?.messagesOut ?? 0);
}

function renderGraph() {
  if (!state.draft) return;
  const extra = inputsByTarget();
  state.extraInputs = extra;
  const nodes = [], edges = [], labels = new Map();
  state.structure.clear();
  for (const [name, node] of state.draft.nodes) {
    const d = drawing(name, extra);
    state.structure.set(name, structureKey(d, !state.draft.server.has(name)));
    const { state: nodeStateName, message } = stateOf(name);
    nodes.push({ ...d, state: nodeStateName, message, classes: nodeClasses(name) });
    labels.set(name, labelOf(name));
    for (const edge of node.spec.edges || []) {
      const target = targetOf(edge);
      if (!target || !state.draft.nodes.has(target.node)) continue;
      edges.push({ from: name, id: edge.id, port: edge.port, toNode: target.node, toPort: target.port, mapped: edge.mapping !== undefined && edge.mapping !== null });
    }
  }
  for (const name of state.draft.nodes.keys()) graph.setInputsFull(name, inputsFull(name));
  graph.render({ nodes, edges, labels });
  if (nodes.length) performance.mark('tinyflow:graph', { detail: { nodes: nodes.length, ms: graph.lastRenderMs } });
  $('#graph-empty').hidden = nodes.length > 0;
  $('#graph-empty').textContent = 'This flow has no nodes yet: add one from the catalogue ("Add node").';
  $('#disconnect').disabled = !graph.selectedEdge;
  if (state.openAfterRender) {
    const name = state.openAfterRender;
    state.openAfterRender = null;
    openNode(name);
    graph.focusNode(name);
  }
}

function scheduleRender() {
  if (state.renderScheduled) return;
  state.renderScheduled = true;
  requestAnimationFrame(() => {
    state.renderScheduled = false;
    renderGraph();
  });
}

/** Whether node `name`'s drawing changed since the last render (then a render is scheduled). */
function checkStructure(name) {
  if (!state.draft.nodes.has(name)) {
    if (state.structure.has(name)) { scheduleRender(); return true; }
    return false;
  }
  // Input ports that exist only because edges point at them change with those edges' nodes,
  // whose own keys change then: the map of the last render is enough here.
  const key = structureKey(drawing(name, state.extraInputs || new Map()), !state.draft.server.has(name));
  if (key !== state.structure.get(name)) { scheduleRender(); return true; }
  return false;
}

function refreshNode(name) {
  if (!state.draft.nodes.has(name)) return;
  graph.updateNode(name, { ...stateOf(name), classes: nodeClasses(name) });
  graph.updateEdgeLabels(name, labelOf(name));
  graph.setInputsFull(name, inputsFull(name));
}

// ---------------------------------------------------------------------------------------
// Live updates.

function onNodeEvent(event) {
  const node = event?.node;
  if (!node || typeof node.name !== 'string') return;
  const name = node.name;
  const type = event.type || 'MODIFIED';
  // The server leaves out ports that did not change: keep the ones we have.
  if (event.portsUnchanged && node.status) node.status.ports = state.draft.server.get(name)?.status?.ports ?? [];
  const { draftChanged } = state.draft.serverEvent(type, node);
  if (draftChanged || type === 'DELETED') {
    validate(name);
    revalidateEdgesTo(name);
    updateDraftStatus();
  }
  const structural = checkStructure(name);
  if (!structural) refreshNode(name);
  if (panel.name === name) {
    if (!state.draft.nodes.has(name)) closeSide();
    else if (draftChanged) panel.rebuild();
    else panel.refreshStatus();
  }
}

function onRates(event) {
  const nodes = event?.nodes;
  if (!nodes || typeof nodes !== 'object') return;
  for (const name of Object.keys(nodes)) {
    state.rates.set(name, nodes[name]);
    if (state.draft.nodes.has(name)) graph.updateEdgeLabels(name, labelOf(name));
  }
  if (panel.name && nodes[panel.name]) panel.refreshStatus();
}

// ---------------------------------------------------------------------------------------
// Validation.

function localErrors(name) {
  if (!state.local.has(name)) state.local.set(name, new Map());
  return state.local.get(name);
}

function validate(name) {
  const node = state.draft.nodes.get(name);
  if (!node) {
    state.errors.delete(name);
    return;
  }
  const spec = node.spec;
  const component = componentOf(name);
  let componentProblem = null;
  if (state.catalogue.loaded && spec.module && spec.component) {
    const module = state.catalogue.module(spec.module);
    if (!module) componentProblem = { path: 'spec.module', message: `no TinyModule "${spec.module}" in this namespace` };
    else if (module.components.length && !state.catalogue.component(spec.module, spec.component)) {
      componentProblem = {
        path: 'spec.component',
        message: `module "${spec.module}" has no component "${spec.component}" (components: ${module.components.map((c) => c.name).sort().join(', ')})`,
      };
    }
  }
  const errors = validateNode(spec, {
    component: component ? { name: component.name, ports: component.ports } : null,
    componentProblem,
    targetPorts: (target) => {
      const other = state.draft.nodes.get(target);
      if (!other) return null;
      const c = componentOf(target);
      return { component: c?.name || other.spec.component, ports: c?.ports };
    },
  });
  for (const [path, message] of state.local.get(name) || []) errors.push({ path, message });
  for (const error of state.serverErrors.get(name) || []) errors.push(error);
  state.errors.set(name, errors);
}

function revalidateEdgesTo(name) {
  for (const [other, node] of state.draft.nodes) {
    if (other === name) continue;
    if ((node.spec.edges || []).some((e) => targetOf(e)?.node === name)) {
      validate(other);
      refreshNode(other);
    }
  }
}

function validateAll() {
  if (!state.draft) return;
  for (const name of [...state.errors.keys()]) if (!state.draft.nodes.has(name)) state.errors.delete(name);
  for (const name of state.draft.nodes.keys()) {
    validate(name);
    refreshNode(name);
  }
  if (panel.open) panel.showErrors(state.errors.get(panel.name) || []);
  updateDraftStatus();
}

function blockingProblems() {
  let count = 0;
  for (const errors of state.errors.values()) for (const e of errors) if (!e.warning) count++;
  return count;
}

function updateDraftStatus() {
  const deploy = $('#deploy'), discard = $('#discard'), status = $('#draft-status');
  if (!state.draft) return;
  const dirty = state.draft.isDirty();
  const problems = blockingProblems();
  deploy.disabled = !dirty || problems > 0;
  deploy.title = problems > 0 ? `Fix ${problems} problem${problems === 1 ? '' : 's'} first` : dirty ? 'Deploy the changes' : 'No changes to deploy';
  discard.disabled = !dirty;
  const parts = [];
  if (dirty) {
    const c = state.draft.changes();
    const n = c.added.length + c.removed.length + c.changed.length;
    parts.push(`${n} changed`);
  }
  if (problems > 0) parts.push(`${problems} problem${problems === 1 ? '' : 's'}`);
  status.textContent = parts.length ? parts.join(' · ') : 'no changes';
  status.setAttribute('aria-label', dirty || problems ? `Draft: ${parts.join(', ')}${problems ? ' (open the first problem)' : ''}` : 'Draft: no changes');
  status.classList.toggle('has-problems', problems > 0);
  const first = problems > 0 ? [...state.errors].find(([, errors]) => errors.some((e) => !e.warning)) : null;
  status.dataset.firstProblem = first ? first[0] : '';
  status.title = first ? `Problems in ${first[0]}: click to open` : '';
}

// ---------------------------------------------------------------------------------------
// Editing.

function changed(name) {
  state.serverErrors.delete(name);
  validate(name);
  if (!checkStructure(name)) refreshNode(name);
  if (panel.name === name) panel.showErrors(state.errors.get(name) || []);
  updateDraftStatus();
}

function uniqueEdgeId(spec, base) {
  const ids = new Set((spec.edges || []).map((e) => e.id));
  if (!ids.has(base)) return base;
  for (let i = 2; ; i++) if (!ids.has(`${base}-${i}`)) return `${base}-${i}`;
}

function addEdge(from, port, toNode, toPort) {
  const spec = state.draft.spec(from);
  if (!spec) return;
  if ((spec.edges || []).some((e) => e.port === port && e.to === `${toNode}:${toPort}`)) {
    notify('info', `${from}:${port} is already connected to ${toNode}:${toPort}.`);
    return;
  }
  const id = uniqueEdgeId(spec, `${from}-${port}-to-${toNode}`);
  state.draft.update(from, (s) => {
    if (!Array.isArray(s.edges)) s.edges = [];
    s.edges.push({ id, port, to: `${toNode}:${toPort}` });
  });
  afterEdgeChange(from);
  announce(`Edge ${id} added from ${from}:${port} to ${toNode}:${toPort}.`);
}

function removeEdge(from, id) {
  state.draft.update(from, (s) => { s.edges = (s.edges || []).filter((e) => e.id !== id); });
  graph.clearEdgeSelection();
  afterEdgeChange(from);
  announce(`Edge ${id} removed.`);
}

function afterEdgeChange(from) {
  const local = localErrors(from);
  for (const key of [...local.keys()]) if (key.startsWith('spec.edges')) local.delete(key);
  state.serverErrors.delete(from);
  validate(from);
  scheduleRender();
  if (panel.name === from) panel.rebuild();
  updateDraftStatus();
  $('#disconnect').disabled = true;
}

async function removeNode(name) {
  if (!state.draft.nodes.has(name)) return;
  const incoming = [...state.draft.nodes.values()].filter((n) => n.name !== name && (n.spec.edges || []).some((e) => targetOf(e)?.node === name)).length;
  const ok = await confirmDialog(
    `Delete node "${name}" from the draft?${incoming ? ` The edges of ${incoming} other node${incoming === 1 ? '' : 's'} to it are removed too.` : ''} Nothing changes in the cluster until you deploy.`,
    'Delete node');
  if (!ok) return;
  const touched = state.draft.remove(name);
  state.local.delete(name);
  state.serverErrors.delete(name);
  state.errors.delete(name);
  for (const other of touched) validate(other);
  if (panel.name === name) closeSide();
  scheduleRender();
  updateDraftStatus();
  announce(`Node ${name} deleted from the draft.`);
  $('#graph').focus();
}

function addNode(module, componentName, name) {
  const component = state.catalogue.component(module, componentName);
  const spec = { module, component: componentName, ports: [], edges: [] };
  if (state.flow !== UNASSIGNED) spec.flow = state.flow;
  const settings = component?.ports.find((p) => p.isSettings);
  if (settings) {
    const defaults = settings.defaultConfiguration ?? defaultConfiguration(settings.configurationSchema);
    if (defaults !== undefined && defaults !== null) spec.ports.push({ port: settings.name, configuration: clone(defaults) });
  }
  state.draft.add(name, spec);
  validate(name);
  state.openAfterRender = name;
  scheduleRender();
  updateDraftStatus();
  announce(`Node ${name} added to the draft.`);
}

function announce(text) {
  $('#announcer').textContent = text;
}

// ---------------------------------------------------------------------------------------
// Side panels.

function closeSide() {
  const hadNode = panel?.name;
  panel?.hide();
  historyPanel?.hide();
  cataloguePanel?.hide();
  $('#side').hidden = true;
  graph?.selectNode(null);
  $('#history')?.setAttribute('aria-pressed', 'false');
  $('#catalogue-button')?.setAttribute('aria-pressed', 'false');
  return hadNode;
}

function openNode(name) {
  if (!state.draft?.nodes.has(name)) return;
  historyPanel.hide();
  cataloguePanel.hide();
  $('#history').setAttribute('aria-pressed', 'false');
  $('#catalogue-button').setAttribute('aria-pressed', 'false');
  $('#side').hidden = false;
  graph.selectNode(name);
  panel.show(name);
  graph.reveal(name); // the panel took room from the graph
}

function toggleHistory() {
  if (historyPanel.open) { closeSide(); return; }
  closeSide();
  $('#side').hidden = false;
  $('#history').setAttribute('aria-pressed', 'true');
  historyPanel.show();
}

function toggleCatalogue() {
  if (cataloguePanel.open) { closeSide(); return; }
  closeSide();
  $('#side').hidden = false;
  $('#catalogue-button').setAttribute('aria-pressed', 'true');
  cataloguePanel.show();
}

// ---------------------------------------------------------------------------------------
// Deploy and discard.

function openDeploy() {
  if (!state.draft) return;
  validateAll();
  if (blockingProblems() > 0) {
    notify('error', 'The draft has problems: fix them before deploying (they are shown next to the fields).');
    return;
  }
  const dialog = $('#deploy-dialog');
  $('#deploy-flow').textContent = state.flow;
  $('#deploy-changes').replaceChildren(renderDiff(state.draft.changes()));
  $('#deploy-errors').replaceChildren();
  $('#deploy-errors').hidden = true;
  $('#deploy-summary-error').hidden = true;
  $('#deploy-confirm').disabled = false;
  dialog.showModal();
  $('#deploy-summary').focus();
}

async function confirmDeploy(event) {
  event.preventDefault();
  const input = $('#deploy-summary');
  const summary = input.value.trim();
  if (!summary) {
    $('#deploy-summary-error').textContent = 'Say what this change does: the summary is recorded in the flow history.';
    $('#deploy-summary-error').hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  $('#deploy-summary-error').hidden = true;
  const button = $('#deploy-confirm');
  button.disabled = true;
  button.textContent = 'Deploying…';
  const nodes = state.draft.payload();
  try {
    const result = await api.deploy(state.flow, summary, nodes);
    state.draft.deployed();
    for (const old of document.querySelectorAll('#notice .notice.error')) old.remove();
    state.serverErrors.clear();
    state.local.clear();
    $('#deploy-dialog').close();
    input.value = '';
    const applied = result?.applied || [], deleted = result?.deleted || [], unchanged = result?.unchanged || [];
    notify('success', `Deployed "${summary}": ${applied.length} applied${applied.length ? ` (${applied.join(', ')})` : ''}, ${deleted.length} deleted${deleted.length ? ` (${deleted.join(', ')})` : ''}, ${unchanged.length} unchanged.`);
    validateAll();
    scheduleRender();
    if (panel.open) panel.rebuild();
    if (historyPanel.open) historyPanel.load();
  } catch (error) {
    if (error.status === 401) return;
    const details = error.details || [];
    state.serverErrors.clear();
    for (const detail of details) {
      if (!detail.node) continue;
      if (!state.serverErrors.has(detail.node)) state.serverErrors.set(detail.node, []);
      state.serverErrors.get(detail.node).push({ path: detail.field || 'spec', message: detail.message || 'invalid', server: true });
    }
    const list = $('#deploy-errors');
    list.replaceChildren(...[h('p', { class: 'error', text: error.text || String(error) }),
      details.length ? h('ul', null, details.map((d) => h('li', null,
        d.node ? h('button', {
          type: 'button', class: 'link', text: d.node,
          onclick: () => { $('#deploy-dialog').close(); openNode(d.node); graph.focusNode(d.node); },
        }) : null,
        d.field ? h('code', { text: ` ${d.field}` }) : null,
        `: ${d.message || ''}`))) : null].filter(Boolean));
    list.hidden = false;
    notifyError(error);
    validateAll();
    if (panel.open) panel.showErrors(state.errors.get(panel.name) || []);
  } finally {
    button.disabled = false;
    button.textContent = 'Deploy';
  }
}

async function discard() {
  if (!state.draft?.isDirty()) return;
  const ok = await confirmDialog('Discard every change of the draft? The flow goes back to what is deployed.', 'Discard changes');
  if (!ok) return;
  state.draft.discard();
  state.local.clear();
  state.serverErrors.clear();
  validateAll();
  scheduleRender();
  if (panel.open) {
    if (state.draft.nodes.has(panel.name)) panel.rebuild();
    else closeSide();
  }
  updateDraftStatus();
  notify('info', 'Changes discarded.');
}

// ---------------------------------------------------------------------------------------
// Wiring.

function setUp() {
  const appInterface = {
    flow: () => state.flow,
    get draft() { return state.draft; },
    api,
    catalogue: state.catalogue,
    componentOf,
    rate: (name) => state.rates.get(name),
    local: localErrors,
    resetLocal: (name) => {
      const local = state.local.get(name);
      if (!local || local.size === 0) return;
      local.clear();
      validate(name);
      refreshNode(name);
      updateDraftStatus();
    },
    changed,
    errorsOf: (name) => state.errors.get(name) || [],
    nodeNames: () => (state.draft ? [...state.draft.nodes.keys()].sort() : []),
    removeNode,
    removeEdge,
    addEdge,
    addNode,
    close: () => {
      const name = closeSide();
      if (name) graph.focusNode(name);
    },
    notify,
    notifyError,
    confirm: confirmDialog,
    rolledBack: () => {},
  };

  graph = new Graph($('#graph'), {
    open: (name) => { openNode(name); },
    remove: (name) => removeNode(name),
    selectEdge: () => { $('#disconnect').disabled = false; },
    removeEdge: (from, id) => removeEdge(from, id),
    connect: (from, port, toNode, toPort) => addEdge(from, port, toNode, toPort),
    escape: () => appInterface.close(),
    background: () => {
      graph.clearEdgeSelection();
      $('#disconnect').disabled = true;
    },
  });
  panel = new NodePanel($('#node-panel'), appInterface);
  historyPanel = new HistoryPanel($('#history-panel'), appInterface);
  cataloguePanel = new CataloguePanel($('#catalogue'), appInterface);
  debugLog = new DebugLog($('#debug'));

  $('#fit').addEventListener('click', () => graph.fit());
  $('#zoom-in').addEventListener('click', () => graph.zoomBy(1.25));
  $('#zoom-out').addEventListener('click', () => graph.zoomBy(1 / 1.25));
  $('#disconnect').addEventListener('click', () => {
    if (graph.selectedEdge) removeEdge(graph.selectedEdge.from, graph.selectedEdge.id);
  });
  $('#deploy').addEventListener('click', openDeploy);
  $('#discard').addEventListener('click', discard);
  $('#history').addEventListener('click', toggleHistory);
  $('#catalogue-button').addEventListener('click', toggleCatalogue);
  $('#deploy-form').addEventListener('submit', confirmDeploy);
  $('#deploy-cancel').addEventListener('click', () => $('#deploy-dialog').close());
  $('#deploy-summary').addEventListener('input', () => {
    $('#deploy-summary-error').hidden = true;
    $('#deploy-summary').removeAttribute('aria-invalid');
  });
  $('#draft-status').addEventListener('click', () => {
    const name = $('#draft-status').dataset.firstProblem;
    if (name) { openNode(name); graph.focusNode(name); }
  });
  $('#debug-toggle').addEventListener('click', () => {
    const debug = $('#debug');
    debug.hidden = !debug.hidden;
    $('#debug-toggle').setAttribute('aria-pressed', String(!debug.hidden));
  });
  $('#refresh-flows').addEventListener('click', () => showFlows());
  $('#new-flow').addEventListener('click', () => {
    $('#new-flow-name').value = '';
    $('#new-flow-error').hidden = true;
    $('#new-flow-dialog').showModal();
    $('#new-flow-name').focus();
  });
  $('#new-flow-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('#new-flow-name').value.trim();
    const problem = labelProblem(name);
    if (problem) {
      $('#new-flow-error').textContent = problem.replace('a node needs', 'a flow needs');
      $('#new-flow-error').hidden = false;
      return;
    }
    state.newFlows.add(name);
    $('#new-flow-dialog').close();
    location.hash = `#/flows/${encodeURIComponent(name)}`;
  });
  $('#new-flow-cancel').addEventListener('click', () => $('#new-flow-dialog').close());
  $('#confirm-ok').addEventListener('click', () => $('#confirm-dialog').close('ok'));
  $('#confirm-cancel').addEventListener('click', () => $('#confirm-dialog').close('cancel'));

  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (document.querySelector('dialog[open]')) return;
    if (!$('#side').hidden) {
      event.preventDefault();
      appInterface.close();
    }
  });
  window.addEventListener('beforeunload', (event) => {
    if (state.draft?.isDirty()) { event.preventDefault(); event.returnValue = ''; }
  });
}

boot();
