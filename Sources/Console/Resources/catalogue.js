// The module catalogue (`GET /api/modules`): every module's components with their
// descriptions, ports and schemas, and "Add node" to put one in the draft.

import { h } from './forms.js';
import { direction, labelProblem } from './validate.js';

/** A component description as the page uses it: `{name, description, tags, ports}`. */
export function normalizeComponent(description) {
  const info = description?.info || description || {};
  return {
    name: info.name || description?.name || '',
    description: info.description || description?.description || '',
    tags: Array.isArray(info.tags) ? info.tags : Array.isArray(description?.tags) ? description.tags : [],
    ports: Array.isArray(description?.ports) ? description.ports : [],
  };
}

export class Catalogue {
  constructor() {
    this.modules = null; // [{name, ready, components: [normalized]}]
    this.loading = null;
    this.failed = null;
  }

  /** Loads the catalogue once (again after `reload`). */
  load(api) {
    if (!this.loading) {
      this.loading = api.modules().then((result) => {
        const modules = Array.isArray(result?.modules) ? result.modules : [];
        this.modules = modules.map((m) => ({
          name: m.name,
          ready: m.ready,
          components: (Array.isArray(m.components) ? m.components : []).map(normalizeComponent)
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
        })).sort((a, b) => (a.name < b.name ? -1 : 1));
        this.failed = null;
        return this.modules;
      }, (error) => {
        this.failed = error;
        this.loading = null;
        throw error;
      });
    }
    return this.loading;
  }

  get loaded() { return this.modules !== null; }

  module(name) {
    return this.modules?.find((m) => m.name === name) || null;
  }

  component(module, component) {
    return this.module(module)?.components.find((c) => c.name === component) || null;
  }
}

function portRow(port) {
  const flags = [];
  if (port.isSettings) flags.push('settings');
  if (port.isStatus) flags.push('status');
  return h('tr', null,
    h('td', null, h('code', { text: port.name })),
    h('td', { text: port.label || '' }),
    h('td', { text: direction(port) }),
    h('td', { text: flags.join(', ') }));
}

export class CataloguePanel {
  /**
   * @param element #catalogue
   * @param app {catalogue, api, nodeNames(), addNode(module, component, name), notifyError, close()}
   */
  constructor(element, app) {
    this.el = element;
    this.app = app;
  }

  get open() { return !this.el.hidden; }

  async show() {
    this.el.hidden = false;
    const filter = h('input', { type: 'search', id: 'catalogue-filter', placeholder: 'Filter components', 'aria-label': 'Filter components' });
    this.listEl = h('div', { class: 'modules' }, h('p', { class: 'muted', text: 'Loading…' }));
    this.el.replaceChildren(
      h('header', { class: 'panel-head' },
        h('h2', { id: 'catalogue-title', text: 'Components' }),
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Close catalogue', title: 'Close (Escape)', text: '✕', onclick: () => this.app.close() })),
      filter, this.listEl);
    this.el.setAttribute('aria-labelledby', 'catalogue-title');
    filter.addEventListener('input', () => this.filter(filter.value));
    try {
      await this.app.catalogue.load(this.app.api);
    } catch (error) {
      this.listEl.replaceChildren(h('p', { class: 'error', text: error.text || String(error) }));
      this.app.notifyError(error);
      return;
    }
    if (!this.open) return;
    this.render();
    filter.focus();
  }

  hide() {
    this.el.hidden = true;
    this.el.replaceChildren();
  }

  filter(text) {
    const needle = text.trim().toLowerCase();
    for (const card of this.el.querySelectorAll('.component')) {
      card.hidden = needle !== '' && !card.dataset.search.includes(needle);
    }
  }

  render() {
    const modules = this.app.catalogue.modules || [];
    if (!modules.length) {
      this.listEl.replaceChildren(h('p', { class: 'muted', text: 'No modules in this namespace.' }));
      return;
    }
    this.listEl.replaceChildren(...modules.map((module) => h('section', { class: 'module', dataset: { module: module.name } },
      h('h3', null, module.name, ' ', h('span', { class: 'chip ' + (module.ready ? 'ok' : 'bad'), text: module.ready ? 'ready' : 'not ready' })),
      module.components.length ? null : h('p', { class: 'muted', text: 'Its hosts have not described its components yet.' }),
      ...module.components.map((component) => this.card(module, component)))));
  }

  card(module, component) {
    const search = [component.name, component.description, ...component.tags].join(' ').toLowerCase();
    const card = h('article', { class: 'component', dataset: { module: module.name, component: component.name, search } },
      h('h4', null, component.name),
      component.description ? h('p', { text: component.description }) : null,
      component.tags.length ? h('p', { class: 'tags' }, component.tags.map((t) => h('span', { class: 'tag', text: t }))) : null,
      h('details', null, h('summary', { text: `Ports (${component.ports.length})` }),
        h('table', { class: 'ports' },
          h('thead', null, h('tr', null, ['Port', 'Label', 'Direction', ''].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', null, component.ports.map(portRow))),
        ...component.ports.filter((p) => p.configurationSchema || p.messageSchema).map((p) => h('details', { class: 'schema' },
          h('summary', { text: `${p.name} schemas` }),
          p.configurationSchema ? h('div', null, h('h5', { text: 'Configuration' }), h('pre', { class: 'json', text: JSON.stringify(p.configurationSchema, null, 2) })) : null,
          p.messageSchema && !p.isSettings ? h('div', null, h('h5', { text: 'Messages' }), h('pre', { class: 'json', text: JSON.stringify(p.messageSchema, null, 2) })) : null))),
      h('button', {
        type: 'button', class: 'add-node', text: 'Add node',
        'aria-label': `Add a ${component.name} node`,
        onclick: () => this.askName(card, module.name, component.name),
      }));
    return card;
  }

  suggestName(component) {
    const taken = new Set(this.app.nodeNames());
    const base = component.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 55) || 'node';
    for (let i = 1; ; i++) {
      const name = `${base}-${i}`;
      if (!taken.has(name)) return name;
    }
  }

  askName(card, module, component) {
    card.querySelector('.add-node-form')?.remove();
    const id = `new-node-name-${module}-${component}`.replace(/[^A-Za-z0-9_-]/g, '-');
    const input = h('input', { type: 'text', id, class: 'new-node-name', value: this.suggestName(component), required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '63' });
    const error = h('p', { class: 'field-error', hidden: true, 'aria-live': 'polite' });
    input.setAttribute('aria-describedby', `${id}-help`);
    const check = () => {
      const name = input.value.trim();
      let problem = labelProblem(name);
      if (!problem && this.app.nodeNames().includes(name)) problem = `the flow already has a node "${name}"`;
      error.textContent = problem || '';
      error.hidden = !problem;
      input.setAttribute('aria-invalid', problem ? 'true' : 'false');
      return problem ? null : name;
    };
    input.addEventListener('input', check);
    const form = h('form', {
      class: 'add-node-form',
      onsubmit: (event) => {
        event.preventDefault();
        const name = check();
        if (!name) { input.focus(); return; }
        form.remove();
        this.app.addNode(module, component, name);
      },
      onkeydown: (event) => {
        if (event.key === 'Escape') { event.stopPropagation(); form.remove(); card.querySelector('.add-node')?.focus(); }
      },
    },
    h('label', { for: id, text: 'Node name' }),
    input,
    h('p', { class: 'help', id: `${id}-help`, text: 'Lowercase letters, digits and "-", at most 63 characters.' }),
    error,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary', text: 'Add' }),
      h('button', { type: 'button', text: 'Cancel', onclick: () => { form.remove(); card.querySelector('.add-node')?.focus(); } })));
    card.appendChild(form);
    input.focus();
    input.select();
  }
}
