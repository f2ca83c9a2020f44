// The node panel: what a node is, its live state (conditions, counters), its settings form,
// status ports, edges with their mappings, an "Add edge" row (the keyboard way to connect),
// signals to its input ports and its recent messages.

import { h, buildForm, showErrors, errorElement, jsonInput } from './forms.js';
import { direction, clone } from './validate.js';
import { STATE_LABELS } from './graph.js';

const SETTINGS = '_settings';

function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** The state a node's badge shows, and the message that explains it. */
export function nodeState(status) {
  const conditions = Array.isArray(status?.conditions) ? status.conditions : [];
  const find = (type) => conditions.find((c) => c.type === type);
  const configValid = find('ConfigValid');
  if (configValid && configValid.status === 'False') return { state: 'config-error', message: configValid.message || configValid.reason || '' };
  const ready = find('Ready');
  if (!ready) return { state: 'unknown', message: status?.error || '' };
  if (ready.status === 'True') return { state: 'ready', message: ready.message || '' };
  if (ready.status === 'False') return { state: 'not-ready', message: ready.message || ready.reason || status?.error || '' };
  return { state: 'unknown', message: ready.message || ready.reason || '' };
}

export class NodePanel {
  /**
   * @param element the panel (#node-panel)
   * @param app {flow(), draft, componentOf(name), rate(name), local(name), changed(name),
   *   removeNode(name), removeEdge(from, id), addEdge(from, port, toNode, toPort, id),
   *   close(), notify(kind, text), api, errorsOf(name), nodeNames(), resetLocal(name)}
   */
  constructor(element, app) {
    this.el = element;
    this.app = app;
    this.name = null;
  }

  get open() { return this.name !== null && !this.el.hidden; }

  show(name) {
    this.name = name;
    this.el.hidden = false;
    this.rebuild();
  }

  hide() {
    this.name = null;
    this.el.hidden = true;
    this.el.replaceChildren();
  }

  /** Builds the whole panel (a node was opened, or its draft changed from the server). */
  rebuild() {
    const name = this.name;
    const draftNode = this.app.draft.nodes.get(name);
    if (!draftNode) { this.app.close(); return; }
    const scroll = this.el.scrollTop;
    // The form shows the draft's values, which are valid JSON: earlier unparsable input is gone.
    this.app.resetLocal(name);
    const spec = draftNode.spec;
    const server = this.app.draft.server.get(name);
    const component = this.app.componentOf(name);
    const ports = component?.ports || [];
    const el = this.el;
    el.replaceChildren();

    el.appendChild(h('header', { class: 'panel-head' },
      h('div', null,
        h('h2', { id: 'node-panel-title', text: name }),
        h('p', { class: 'muted', text: `${spec.module || '?'} / ${spec.component || '?'}${server ? '' : ' — new, not deployed'}` })),
      h('button', { type: 'button', class: 'icon', id: 'node-panel-close', 'aria-label': 'Close node panel', title: 'Close (Escape)', text: '✕', onclick: () => this.app.close() })));
    el.setAttribute('aria-labelledby', 'node-panel-title');

    const description = component?.description || server?.status?.component?.description;
    if (description) el.appendChild(h('p', { class: 'description', text: description }));
    const tags = component?.tags || server?.status?.component?.tags;
    if (Array.isArray(tags) && tags.length) el.appendChild(h('p', { class: 'tags' }, tags.map((t) => h('span', { class: 'tag', text: t }))));

    this.nodeErrors = h('ul', { class: 'node-errors', 'aria-live': 'polite', hidden: true });
    el.appendChild(this.nodeErrors);
    el.appendChild(errorElement('spec'));
    el.appendChild(errorElement('metadata.name'));

    // Live state.
    this.stateSection = h('section', { class: 'state', 'aria-label': 'State' });
    el.appendChild(this.stateSection);
    this.refreshStatus();

    // Settings and other configurable ports.
    const configurable = ports.filter((p) => p.configurationSchema != null);
    configurable.sort((a, b) => (b.isSettings === true) - (a.isSettings === true) || (a.name < b.name ? -1 : 1));
    if (configurable.length === 0 && component) {
      el.appendChild(h('section', null, h('h3', { text: 'Settings' }), h('p', { class: 'muted', text: 'This component takes no settings.' })));
    } else if (!component) {
      el.appendChild(h('section', null, h('h3', { text: 'Settings' }),
        h('p', { class: 'muted', text: 'The component is not known yet (its module has not described it), so its settings are shown as JSON.' }),
        this.rawPorts(spec)));
    }
    for (const port of configurable) el.appendChild(this.portForm(spec, port));

    // Status ports, read-only.
    const statusPorts = ports.filter((p) => p.isStatus);
    if (statusPorts.length) {
      const section = h('section', { class: 'status-ports' }, h('h3', { text: 'Status ports' }));
      for (const port of statusPorts) {
        section.appendChild(h('div', { class: 'status-port' },
          h('h4', null, h('span', { class: 'port-kind status', text: '◇' }), ` ${port.label || port.name} `, h('code', { text: `${port.name} (${direction(port)})` })),
          port.defaultConfiguration !== undefined && port.defaultConfiguration !== null
            ? h('pre', { class: 'json', text: JSON.stringify(port.defaultConfiguration, null, 2) })
            : h('p', { class: 'muted', text: 'No data reported.' }),
          port.messageSchema ? h('details', null, h('summary', { text: 'Message schema' }), h('pre', { class: 'json', text: JSON.stringify(port.messageSchema, null, 2) })) : null));
      }
      el.appendChild(section);
    }

    el.appendChild(this.edgesSection(spec, ports));
    if (server) el.appendChild(this.signalsSection(ports));
    if (server) el.appendChild(this.messagesSection());

    el.appendChild(h('section', { class: 'danger' },
      h('button', { type: 'button', id: 'delete-node', class: 'danger', text: 'Delete node…', onclick: () => this.app.removeNode(name) })));

    this.showErrors(this.app.errorsOf(name));
    el.scrollTop = scroll;
  }

  /** Conditions, error and counters, from the server's status and the latest rates. */
  refreshStatus() {
    if (!this.stateSection || this.name === null) return;
    const server = this.app.draft.server.get(this.name);
    const status = server?.status;
    const section = this.stateSection;
    section.replaceChildren(h('h3', { text: 'State' }));
    if (!server) {
      section.appendChild(h('p', { class: 'muted', text: 'Not deployed yet.' }));
      return;
    }
    const { state, message } = nodeState(status);
    section.appendChild(h('p', { class: 'state-line' },
      h('span', { class: 'state-dot', dataset: { state } }), ` ${STATE_LABELS[state]}`, message ? h('span', { class: 'muted', text: ` — ${message}` }) : null));
    if (status?.error) section.appendChild(h('p', { class: 'node-error', role: 'note' }, h('strong', { text: 'Error: ' }), status.error));
    const conditions = Array.isArray(status?.conditions) ? status.conditions : [];
    if (conditions.length) {
      section.appendChild(h('table', { class: 'conditions' },
        h('caption', { class: 'visually-hidden', text: 'Conditions' }),
        h('thead', null, h('tr', null, ['Type', 'Status', 'Reason', 'Message'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, conditions.map((c) => h('tr', { dataset: { condition: c.type, status: c.status } },
          h('td', { text: c.type }), h('td', { class: `cond-${String(c.status).toLowerCase()}`, text: c.status }),
          h('td', { text: c.reason || '' }), h('td', { text: c.message || '' }))))));
    }
    const metrics = status?.metrics || {};
    const rate = this.app.rate(this.name);
    const fmt = (v) => (typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + '/s' : '');
    section.appendChild(h('dl', { class: 'counters' },
      h('div', null, h('dt', { text: 'In' }), h('dd', { dataset: { counter: 'messagesIn' }, text: String(metrics.messagesIn ?? 0) }), h('dd', { class: 'rate', text: fmt(rate?.in) })),
      h('div', null, h('dt', { text: 'Out' }), h('dd', { dataset: { counter: 'messagesOut' }, text: String(metrics.messagesOut ?? 0) }), h('dd', { class: 'rate', text: fmt(rate?.out) })),
      h('div', null, h('dt', { text: 'Errors' }), h('dd', { dataset: { counter: 'errors' }, text: String(metrics.errors ?? 0) }), h('dd', { class: 'rate', text: fmt(rate?.errors) })),
      h('div', null, h('dt', { text: 'Expired' }), h('dd', { dataset: { counter: 'expired' }, text: String(metrics.expired ?? 0) })),
      h('div', null, h('dt', { text: 'Dropped' }), h('dd', { dataset: { counter: 'dropped' }, text: String(metrics.dropped ?? 0) })),
      h('div', null, h('dt', { text: 'Lost' }), h('dd', { dataset: { counter: 'lost' }, text: String(metrics.lost ?? 0) })),
    ));
    section.appendChild(h('p', { class: 'muted small', text: `Last message: ${formatTime(metrics.lastMessageTime)}` }));
  }

  /** Shows validation and server errors next to their fields; the rest at the top. */
  showErrors(errors) {
    if (!this.open) return;
    const unplaced = showErrors(this.el, errors, 'spec');
    this.nodeErrors.replaceChildren(...unplaced.map((e) => h('li', { class: e.warning ? 'warning' : '', text: `${e.path}: ${e.message}` })));
    this.nodeErrors.hidden = unplaced.length === 0;
  }

  portIndex(spec, portName) {
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    const index = ports.findIndex((p) => p.port === portName);
    return index >= 0 ? index : ports.length;
  }

  portForm(spec, port) {
    const name = this.name;
    const index = this.portIndex(spec, port.name);
    const path = `spec.ports[${index}].configuration`;
    const entry = (spec.ports || [])[index];
    const isSettings = port.isSettings || port.name === SETTINGS;
    const section = h('section', { class: 'settings', dataset: { port: port.name } },
      h('h3', null, isSettings ? 'Settings' : `Port ${port.label || port.name} configuration`, ' ', h('code', { class: 'muted', text: port.name })));
    const form = h('div', { class: 'form' });
    section.appendChild(form);
    const schema = port.configurationSchema;
    buildForm(form, {
      schema,
      value: entry ? entry.configuration : undefined,
      path,
      local: this.app.local(name),
      onChange: (value) => {
        this.app.draft.update(name, (s) => {
          if (!Array.isArray(s.ports)) s.ports = [];
          let i = s.ports.findIndex((p) => p.port === port.name);
          if (i < 0) { s.ports.push({ port: port.name, configuration: {} }); i = s.ports.length - 1; }
          s.ports[i].configuration = value === undefined ? (schema?.type === 'object' ? {} : null) : clone(value);
        });
        this.app.changed(name);
      },
    });
    return section;
  }

  /** Port configurations as JSON when the component's schemas are not known. */
  rawPorts(spec) {
    const name = this.name;
    const wrapper = h('div', { class: 'form' });
    (spec.ports || []).forEach((entry, index) => {
      const path = `spec.ports[${index}].configuration`;
      const id = `raw-port-${index}`;
      const cell = {
        get: () => this.app.draft.spec(name)?.ports?.[index]?.configuration,
        set: (value) => {
          this.app.draft.update(name, (s) => { s.ports[index].configuration = value === undefined ? null : value; });
          this.app.changed(name);
        },
      };
      wrapper.appendChild(h('div', { class: 'field' },
        h('label', { for: id, text: entry.port }),
        jsonInput(cell, path, { local: this.app.local(name), changed: () => this.app.changed(name) }, { id }),
        errorElement(path)));
    });
    return wrapper;
  }

  edgesSection(spec, ports) {
    const name = this.name;
    const section = h('section', { class: 'edges-section' }, h('h3', { text: 'Edges' }));
    const edges = Array.isArray(spec.edges) ? spec.edges : [];
    if (!edges.length) section.appendChild(h('p', { class: 'muted', text: 'No edges from this node.' }));
    const list = h('ul', { class: 'edge-list' });
    edges.forEach((edge, index) => {
      const base = `spec.edges[${index}]`;
      const mappingId = `edge-mapping-${index}`, retryId = `edge-retry-${index}`;
      const cell = (key) => ({
        get: () => this.app.draft.spec(name)?.edges?.[index]?.[key],
        set: (value) => {
          this.app.draft.update(name, (s) => {
            if (value === undefined) delete s.edges[index][key]; else s.edges[index][key] = value;
          });
          this.app.changed(name, { edges: key === 'mapping' });
        },
      });
      const ctx = { local: this.app.local(name), changed: () => this.app.changed(name) };
      list.appendChild(h('li', { class: 'edge-item', dataset: { edge: edge.id } },
        h('div', { class: 'edge-head' },
          h('code', { text: edge.id }), ' ',
          h('span', { text: `${edge.port} → ${edge.to}` }),
          h('button', {
            type: 'button', class: 'small', text: 'Remove', 'aria-label': `Remove edge ${edge.id}`,
            onclick: () => this.app.removeEdge(name, edge.id),
          })),
        errorElement(base),
        h('details', { open: edge.mapping !== undefined ? true : undefined },
          h('summary', { text: 'Mapping and retry policy' }),
          h('p', { class: 'help', text: 'Mapping: builds the target\'s message with expressions; empty, the message passes unchanged.' }),
          h('label', { for: mappingId, class: 'visually-hidden', text: `Mapping of edge ${edge.id} (JSON)` }),
          jsonInput(cell('mapping'), `${base}.mapping`, ctx, { id: mappingId, placeholder: '{"url": "{{ $.payload.host }}/api"}' }),
          errorElement(`${base}.mapping`),
          h('label', { for: retryId, text: 'Retry policy (JSON)' }),
          jsonInput(cell('retryPolicy'), `${base}.retryPolicy`, ctx, { id: retryId, rows: 2, placeholder: '{"maxAttempts": 3, "initialDelay": "100ms"}' }),
          errorElement(`${base}.retryPolicy`))));
    });
    section.appendChild(list);

    // Add edge: the keyboard way to connect.
    const outputs = ports.filter((p) => direction(p) === 'output').map((p) => p.name);
    for (const edge of edges) if (!outputs.includes(edge.port)) outputs.push(edge.port);
    const fromSelect = h('select', { id: 'add-edge-port', 'aria-label': 'From output port' },
      outputs.map((p) => h('option', { value: p, text: p })));
    const toSelect = h('select', { id: 'add-edge-target', 'aria-label': 'To node and input port' });
    for (const other of this.app.nodeNames()) {
      if (other === name) continue;
      const inputs = (this.app.componentOf(other)?.ports || []).filter((p) => direction(p) === 'input' && !p.isSettings);
      if (inputs.length === 0) {
        toSelect.appendChild(h('option', { value: `${other}:in`, text: `${other}:in (ports unknown)` }));
      }
      for (const p of inputs) toSelect.appendChild(h('option', { value: `${other}:${p.name}`, text: `${other}:${p.name}` }));
    }
    const add = h('button', {
      type: 'button', id: 'add-edge', text: 'Add edge', disabled: outputs.length === 0 || toSelect.options.length === 0,
      onclick: () => {
        const [toNode, toPort] = toSelect.value.split(':');
        this.app.addEdge(name, fromSelect.value, toNode, toPort);
      },
    });
    section.appendChild(h('div', { class: 'add-edge' },
      h('h4', { text: 'Add edge' }),
      h('label', { for: 'add-edge-port', text: 'From ' }), fromSelect,
      h('label', { for: 'add-edge-target', text: ' to ' }), toSelect, ' ', add,
      outputs.length === 0 ? h('p', { class: 'muted', text: 'This component has no output ports.' }) : null));
    return section;
  }

  signalsSection(ports) {
    const name = this.name;
    const inputs = ports.filter((p) => direction(p) === 'input' && !p.isSettings && !p.isStatus);
    const section = h('section', { class: 'signals' }, h('h3', { text: 'Send a signal' }));
    if (!inputs.length) {
      section.appendChild(h('p', { class: 'muted', text: 'No input ports.' }));
      return section;
    }
    inputs.forEach((port) => {
      const id = `signal-${port.name}`;
      const textarea = h('textarea', { id, class: 'json', rows: 3, spellcheck: 'false', dataset: { signalPort: port.name } });
      textarea.value = '{}';
      const error = h('p', { class: 'field-error', hidden: true });
      const send = h('button', {
        type: 'submit', text: 'Send',
      });
      const form = h('form', {
        class: 'signal-form',
        onsubmit: async (event) => {
          event.preventDefault();
          let payload;
          try {
            payload = textarea.value.trim() === '' ? {} : JSON.parse(textarea.value);
            error.hidden = true;
          } catch (e) {
            error.textContent = `invalid JSON: ${e.message}`;
            error.hidden = false;
            return;
          }
          send.disabled = true;
          try {
            const result = await this.app.api.signal(this.app.flow(), name, port.name, payload);
            this.app.notify('success', `Signal ${result?.name || ''} sent to ${name}:${port.name}`);
          } catch (e) {
            this.app.notifyError(e);
          } finally {
            send.disabled = false;
          }
        },
      },
      h('label', { for: id }, `${port.label || port.name} `, h('code', { text: port.name }), ' — payload (JSON)'),
      textarea, error, send);
      section.appendChild(form);
    });
    return section;
  }

  messagesSection() {
    const name = this.name;
    const list = h('ol', { class: 'messages' });
    const button = h('button', {
      type: 'button', text: 'Show recent messages',
      onclick: async () => {
        button.disabled = true;
        try {
          const result = await this.app.api.messages(this.app.flow(), name);
          const messages = Array.isArray(result?.messages) ? result.messages : [];
          list.replaceChildren(...(messages.length
            ? messages.map((m) => h('li', null, h('pre', { class: 'json', text: JSON.stringify(m?.payload !== undefined ? m.payload : m, null, 2) })))
            : [h('li', { class: 'muted', text: 'No messages kept (debug nodes keep them).' })]));
        } catch (e) {
          this.app.notifyError(e);
        } finally {
          button.disabled = false;
        }
      },
    });
    return h('section', { class: 'recent' }, h('h3', { text: 'Recent messages' }), button, list);
  }
}
