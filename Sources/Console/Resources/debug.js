// The live debug sidebar: messages of `debug` events appended as they arrive, newest at the
// bottom, at most MAX_ENTRIES in the DOM (older ones are removed), so that a page left open
// for hours keeps a bounded size.

import { h } from './forms.js';

export const MAX_ENTRIES = 500;
const MAX_PAYLOAD_CHARS = 20000;

export class DebugLog {
  /** @param element the sidebar (#debug) holding #debug-list, #debug-count and #debug-clear */
  constructor(element) {
    this.el = element;
    this.list = element.querySelector('#debug-list');
    this.count = element.querySelector('#debug-count');
    this.empty = element.querySelector('#debug-empty');
    element.querySelector('#debug-clear').addEventListener('click', () => this.clear());
    this.total = 0;
  }

  /** Appends the messages of one `debug` event: `{node, messages}`. */
  append(node, messages) {
    if (!Array.isArray(messages) || messages.length === 0) return;
    const list = this.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    const fragment = document.createDocumentFragment();
    const start = Math.max(0, messages.length - MAX_ENTRIES);
    const now = new Date();
    for (let i = start; i < messages.length; i++) {
      const message = messages[i];
      const payload = message && typeof message === 'object' && 'payload' in message ? message.payload : message;
      let text = JSON.stringify(payload, null, 2) ?? 'null';
      if (text.length > MAX_PAYLOAD_CHARS) text = text.slice(0, MAX_PAYLOAD_CHARS) + '\n… (shortened)';
      const time = message?.time || message?.timestamp;
      const when = time ? new Date(time) : now;
      const valid = !Number.isNaN(when.getTime());
      const entry = h('li', { class: 'debug-entry', dataset: { node } },
        h('div', { class: 'debug-meta' },
          h('span', { class: 'debug-node', text: node }),
          message?.from ? h('span', { class: 'muted', text: ` ← ${message.from}` }) : null,
          h('time', { datetime: valid ? when.toISOString() : '', text: valid ? when.toLocaleTimeString() : String(time) })),
        h('pre', { class: 'json', text }));
      if (message?.id) entry.title = `message ${message.id}`;
      fragment.appendChild(entry);
    }
    list.appendChild(fragment);
    this.total += messages.length - start;
    while (list.childElementCount > MAX_ENTRIES) list.firstElementChild.remove();
    this.updateCount();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  clear() {
    this.list.replaceChildren();
    this.total = 0;
    this.updateCount();
  }

  updateCount() {
    const shown = this.list.childElementCount;
    this.count.textContent = shown === 0 ? '' : shown < this.total ? `${shown} (of ${this.total})` : String(shown);
    if (this.empty) this.empty.hidden = shown > 0;
  }
}
