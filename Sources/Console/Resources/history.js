// The history panel: a flow's revisions (newest first, the current one marked); selecting
// one shows what it would change (its `diff`: nodes added, removed and changed with each
// path's before → after) and offers to roll back to it.

import { h } from './forms.js';

function formatTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value ?? '') : date.toLocaleString();
}

export function valueText(value) {
  if (value === undefined) return '(not set)';
  const text = JSON.stringify(value);
  return text.length > 200 ? text.slice(0, 197) + '…' : text;
}

/** The list of changes of a diff `{added, removed, changed}` (a revision's or the draft's). */
export function renderDiff(diff, { addedLabel = 'added', removedLabel = 'removed' } = {}) {
  const added = diff?.added || [], removed = diff?.removed || [], changed = diff?.changed || [];
  if (!added.length && !removed.length && !changed.length) return h('p', { class: 'muted', text: 'No changes.' });
  return h('div', { class: 'diff' },
    added.length ? h('div', { class: 'diff-group added' }, h('h4', { text: `Nodes ${addedLabel} (${added.length})` }),
      h('ul', null, added.map((n) => h('li', { dataset: { node: n } }, h('span', { class: 'sign', text: '+' }), ` ${n}`)))) : null,
    removed.length ? h('div', { class: 'diff-group removed' }, h('h4', { text: `Nodes ${removedLabel} (${removed.length})` }),
      h('ul', null, removed.map((n) => h('li', { dataset: { node: n } }, h('span', { class: 'sign', text: '−' }), ` ${n}`)))) : null,
    changed.length ? h('div', { class: 'diff-group changed' }, h('h4', { text: `Nodes changed (${changed.length})` }),
      h('ul', null, changed.map((c) => h('li', { dataset: { node: c.name } },
        h('span', { class: 'sign', text: '~' }), ` ${c.name}`,
        h('ul', { class: 'changes' }, (c.changes || []).map((ch) => h('li', null,
          h('code', { text: ch.path }), ': ',
          h('span', { class: 'before', text: valueText(ch.before) }), ' → ',
          h('span', { class: 'after', text: valueText(ch.after) })))))))) : null);
}

export class HistoryPanel {
  /** @param element #history-panel; app {flow(), api, notify, notifyError, confirm(text), close()} */
  constructor(element, app) {
    this.el = element;
    this.app = app;
    this.selected = null;
    this.current = null;
  }

  get open() { return !this.el.hidden; }

  async show() {
    this.el.hidden = false;
    this.el.replaceChildren(
      h('header', { class: 'panel-head' },
        h('h2', { id: 'history-title', text: 'History' }),
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Close history', title: 'Close (Escape)', text: '✕', onclick: () => this.app.close() })),
      this.listEl = h('ol', { id: 'revisions', class: 'revisions', 'aria-label': 'Revisions, newest first' }, h('li', { class: 'muted', text: 'Loading…' })),
      this.detailEl = h('div', { id: 'revision-detail', class: 'revision-detail', 'aria-live': 'polite' }));
    this.el.setAttribute('aria-labelledby', 'history-title');
    await this.load();
  }

  hide() {
    this.el.hidden = true;
    this.el.replaceChildren();
    this.selected = null;
  }

  async load() {
    let result;
    try {
      result = await this.app.api.revisions(this.app.flow());
    } catch (error) {
      this.listEl.replaceChildren(h('li', { class: 'error', text: error.text || String(error) }));
      this.app.notifyError(error);
      return;
    }
    if (!this.open) return;
    this.current = result?.current ?? null;
    const revisions = Array.isArray(result?.revisions) ? result.revisions : [];
    if (!revisions.length) {
      this.listEl.replaceChildren(h('li', { class: 'muted', text: 'No revisions recorded yet.' }));
      return;
    }
    this.listEl.replaceChildren(...revisions.map((r) => {
      const isCurrent = r.number === this.current;
      const item = h('li', {
        class: 'revision' + (isCurrent ? ' current' : ''),
        dataset: { revision: String(r.number) },
        tabindex: '0', role: 'button',
        'aria-current': isCurrent ? 'true' : undefined,
        'aria-label': `Revision ${r.number}${isCurrent ? ' (current)' : ''}: ${r.summary || ''}`,
        onclick: () => this.select(r.number),
        onkeydown: (event) => {
          if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); this.select(r.number); }
        },
      },
      h('div', { class: 'revision-head' },
        h('strong', { text: `#${r.number}` }),
        isCurrent ? h('span', { class: 'chip current', text: 'current' }) : null,
        h('span', { class: 'muted', text: ` ${r.author || 'unknown author'} · ${formatTime(r.time)}` })),
      h('div', { class: 'revision-summary', text: r.summary || '(no summary)' }),
      h('div', { class: 'muted small', text: `${r.nodeCount ?? '?'} nodes` }));
      return item;
    }));
    if (this.selected !== null) this.markSelected();
  }

  markSelected() {
    for (const item of this.listEl.querySelectorAll('[data-revision]')) {
      item.classList.toggle('selected', Number(item.dataset.revision) === this.selected);
    }
  }

  async select(number) {
    this.selected = number;
    this.markSelected();
    this.detailEl.replaceChildren(h('p', { class: 'muted', text: `Loading revision ${number}…` }));
    let revision;
    try {
      revision = await this.app.api.revision(this.app.flow(), number);
    } catch (error) {
      this.detailEl.replaceChildren(h('p', { class: 'error', text: error.text || String(error) }));
      this.app.notifyError(error);
      return;
    }
    if (this.selected !== number) return;
    const isCurrent = number === this.current;
    this.detailEl.replaceChildren(
      h('h3', { text: `Revision ${number}` }),
      h('p', null, h('span', { class: 'muted', text: `${revision.author || 'unknown author'} · ${formatTime(revision.time)}` })),
      h('p', { class: 'revision-summary', text: revision.summary || '(no summary)' }),
      h('h4', { text: isCurrent ? 'This is the current revision.' : 'Rolling back would change:' }),
      renderDiff(revision.diff, { addedLabel: 'added back', removedLabel: 'removed' }),
      h('button', {
        type: 'button', id: 'rollback', class: 'primary', text: 'Roll back to this revision',
        disabled: isCurrent ? true : undefined,
        onclick: () => this.rollback(number),
      }));
  }

  async rollback(number) {
    const ok = await this.app.confirm(`Roll back flow "${this.app.flow()}" to revision ${number}? Its nodes are applied as they were then; nodes it did not have are deleted.`, 'Roll back');
    if (!ok) return;
    const button = this.el.querySelector('#rollback');
    if (button) button.disabled = true;
    try {
      const result = await this.app.api.rollback(this.app.flow(), number);
      const applied = result?.applied?.length ?? 0, deleted = result?.deleted?.length ?? 0;
      this.app.notify('success', `Rolled back to revision ${number}: ${applied} applied, ${deleted} deleted.`);
      this.app.rolledBack?.();
      await this.load();
      if (this.selected !== null) await this.select(this.selected);
    } catch (error) {
      this.app.notifyError(error);
      if (button) button.disabled = false;
    }
  }
}
