// The local draft of a flow's node set: what the user edits before a deploy. Pure: no DOM.
//
// `server` holds the nodes as the API last reported them (spec and status); `nodes` holds
// the draft's `{name, spec}`. A node the user has not touched follows the server (live
// updates); one they edited, added or deleted keeps their version until deploy or discard.

import { clone, jsonEqual } from './validate.js';

/** A spec with absent lists as empty ones and no undefined members: for comparisons. */
export function normalizeSpec(spec) {
  const s = clone(spec || {});
  if (!Array.isArray(s.ports)) s.ports = [];
  if (!Array.isArray(s.edges)) s.edges = [];
  for (const edge of s.edges) {
    if (edge.mapping === null) delete edge.mapping;
    if (edge.retryPolicy === null) delete edge.retryPolicy;
  }
  if (s.flow === null) delete s.flow;
  return s;
}

/** The changed leaves between two JSON values, as the server's history diff lists them. */
export function diffValues(before, after, path, into = []) {
  if (jsonEqual(before, after)) return into;
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) diffValues(before[key], after[key], `${path}.${key}`, into);
  } else if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((value, i) => diffValues(value, after[i], `${path}[${i}]`, into));
  } else {
    into.push({ path, before, after });
  }
  return into;
}

export class Draft {
  constructor(flow) {
    this.flow = flow;
    this.server = new Map(); // name → {name, spec, status}
    this.nodes = new Map(); // name → {name, spec}
    this.edited = new Set(); // names whose draft the user changed (or added)
    this.removed = new Set(); // server nodes the user deleted
  }

  /** Replaces everything with the nodes of `GET /api/flows/NAME`. */
  load(nodes) {
    this.server.clear();
    this.nodes.clear();
    this.edited.clear();
    this.removed.clear();
    for (const node of nodes) {
      this.server.set(node.name, node);
      this.nodes.set(node.name, { name: node.name, spec: clone(node.spec) });
    }
  }

  /**
   * Applies a `node` event. Returns `{draftChanged}`: whether the draft's version of the
   * node changed (the node was not edited locally, so it follows the server).
   */
  serverEvent(type, node) {
    const name = node.name;
    if (type === 'DELETED') {
      this.server.delete(name);
      this.removed.delete(name);
      if (!this.edited.has(name) && this.nodes.has(name)) {
        this.nodes.delete(name);
        return { draftChanged: true };
      }
      return { draftChanged: false };
    }
    const previous = this.server.get(name);
    this.server.set(name, node);
    if (this.edited.has(name) || this.removed.has(name)) return { draftChanged: false };
    const current = this.nodes.get(name);
    if (current && previous && jsonEqual(normalizeSpec(current.spec), normalizeSpec(node.spec))) {
      return { draftChanged: false };
    }
    this.nodes.set(name, { name, spec: clone(node.spec) });
    return { draftChanged: true };
  }

  /** Nodes the server has and the draft does not (following a reconnect's fresh list). */
  reconcile(nodes) {
    const names = new Set(nodes.map((n) => n.name));
    for (const name of [...this.server.keys()]) {
      if (!names.has(name)) this.serverEvent('DELETED', { name });
    }
    for (const node of nodes) this.serverEvent('MODIFIED', node);
  }

  spec(name) {
    return this.nodes.get(name)?.spec;
  }

  /** Changes node `name`'s draft spec with `change(spec)` (which edits it in place). */
  update(name, change) {
    const node = this.nodes.get(name);
    if (!node) return;
    change(node.spec);
    this.edited.add(name);
  }

  add(name, spec) {
    this.nodes.set(name, { name, spec });
    this.edited.add(name);
    this.removed.delete(name);
  }

  /** Deletes a node and the draft's edges to it; returns the names of nodes whose edges changed. */
  remove(name) {
    this.nodes.delete(name);
    this.edited.delete(name);
    if (this.server.has(name)) this.removed.add(name);
    const touched = [];
    for (const [other, node] of this.nodes) {
      const edges = node.spec.edges || [];
      const kept = edges.filter((e) => typeof e.to !== 'string' || e.to.slice(0, e.to.indexOf(':')) !== name);
      if (kept.length !== edges.length) {
        node.spec.edges = kept;
        this.edited.add(other);
        touched.push(other);
      }
    }
    return touched;
  }

  /** Whether node `name`'s draft differs from what the server has (false for unknown names). */
  differs(name) {
    if (!this.edited.has(name)) return false;
    const server = this.server.get(name), draft = this.nodes.get(name);
    if (!server || !draft) return true;
    return !jsonEqual(normalizeSpec(server.spec), normalizeSpec(draft.spec));
  }

  isDirty() {
    if (this.removed.size > 0) return true;
    for (const name of this.edited) {
      const server = this.server.get(name);
      const draft = this.nodes.get(name);
      if (!server || !draft) return true;
      if (!jsonEqual(normalizeSpec(server.spec), normalizeSpec(draft.spec))) return true;
    }
    return false;
  }

  /** What deploying the draft changes: `{added, removed, changed: [{name, changes: [{path, before, after}]}]}`. */
  changes() {
    const added = [], removed = [], changed = [];
    for (const name of [...this.nodes.keys()].sort()) {
      const server = this.server.get(name);
      if (!server) { added.push(name); continue; }
      if (!this.edited.has(name)) continue;
      const before = normalizeSpec(server.spec), after = normalizeSpec(this.nodes.get(name).spec);
      if (!jsonEqual(before, after)) changed.push({ name, changes: diffValues(before, after, 'spec') });
    }
    for (const name of [...this.server.keys()].sort()) if (!this.nodes.has(name)) removed.push(name);
    return { added, removed, changed };
  }

  /** The deploy request's node set. */
  payload() {
    return [...this.nodes.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((node) => ({ name: node.name, spec: clone(node.spec) }));
  }

  /** After a successful deploy: the server now has the draft. */
  deployed() {
    for (const name of [...this.server.keys()]) if (!this.nodes.has(name)) this.server.delete(name);
    for (const [name, node] of this.nodes) {
      const server = this.server.get(name);
      this.server.set(name, { ...(server || { name }), spec: clone(node.spec) });
    }
    this.edited.clear();
    this.removed.clear();
  }

  /** Drops every local change. */
  discard() {
    this.nodes.clear();
    for (const [name, node] of this.server) this.nodes.set(name, { name, spec: clone(node.spec) });
    this.edited.clear();
    this.removed.clear();
  }
}
