// Forms generated from a port's configuration schema (JSON Schema): strings, numbers and
// integers with their bounds, booleans as checkboxes, enums as selects, objects as
// fieldsets, arrays with add/remove rows, oneOf as a choice of alternatives, and a JSON
// textarea for anything else. Every input carries `data-field` = the operator's field path
// (`spec.ports[0].configuration.routes[1].when`), next to a `.field-error` for that path.

import { memberPath, defaultConfiguration, holdsReference, canonicalJSON } from './validate.js';

let counter = 0;
const uid = (prefix) => `${prefix}-${++counter}`;

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const present = (...nodes) => nodes.filter((n) => n !== null && n !== undefined && n !== false);

function typeOf(schema) {
  const t = schema?.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null');
  return t;
}

/** Which editor a schema gets. */
export function kindOf(schema) {
  if (!isObject(schema)) return 'json';
  if (Array.isArray(schema.oneOf) && schema.oneOf.length) return 'oneOf';
  if (Array.isArray(schema.anyOf) && schema.anyOf.length) return 'oneOf';
  if (Array.isArray(schema.enum) && schema.enum.length) return 'enum';
  switch (typeOf(schema)) {
    case 'string': return 'string';
    case 'integer': case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'object': return isObject(schema.properties) && Object.keys(schema.properties).length ? 'object' : 'json';
    case 'array': return isObject(schema.items) ? 'array' : 'json';
    default: return 'json';
  }
}

/** A new value for a schema: its default, else an empty value of its type. */
export function emptyValue(schema) {
  const d = defaultConfiguration(schema);
  if (isObject(d) && isObject(schema?.properties)) {
    // Required members get a value too, so that only what the user must still fill in is flagged.
    for (const name of Array.isArray(schema.required) ? schema.required : []) {
      if (d[name] === undefined && schema.properties[name]) d[name] = emptyValue(schema.properties[name]);
    }
    return d;
  }
  if (d !== undefined) return d;
  if (Array.isArray(schema?.enum) && schema.enum.length) return schema.enum[0];
  switch (typeOf(schema)) {
    case 'string': return '';
    case 'integer': case 'number': return schema.minimum ?? 0;
    case 'boolean': return false;
    case 'array': return [];
    case 'object': return {};
    default: return null;
  }
}

function variantLabel(schema, index) {
  if (schema.title) return schema.title;
  if (schema.const !== undefined) return canonicalJSON(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => canonicalJSON(v)).join(' | ');
  if (schema.description) return schema.description.slice(0, 40);
  if (typeOf(schema) === 'object' && isObject(schema.properties)) return `object {${Object.keys(schema.properties).sort().join(', ')}}`;
  return typeOf(schema) || `alternative ${index + 1}`;
}

const parentPath = (path) => path.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, '');

/**
 * Shows `errors` ([{path, message, warning?}]) next to the fields under `root` whose
 * `.field-error[data-error-for]` is the path or its nearest parent; returns the errors
 * that have no such place.
 */
export function showErrors(root, errors, stopAt = '') {
  const places = new Map();
  for (const element of root.querySelectorAll('.field-error[data-error-for]')) {
    places.set(element.dataset.errorFor, element);
    element.textContent = '';
    element.hidden = true;
    element.classList.remove('warning');
  }
  for (const input of root.querySelectorAll('[data-field][aria-invalid]')) input.removeAttribute('aria-invalid');
  const messages = new Map();
  const unplaced = [];
  for (const error of errors) {
    let path = error.path;
    let place = places.get(path);
    while (!place && path && path !== stopAt) {
      const up = parentPath(path);
      if (up === path) break;
      path = up;
      place = places.get(path);
    }
    if (!place) { unplaced.push(error); continue; }
    const prefix = path === error.path ? '' : `${error.path.slice(path.length).replace(/^\./, '')}: `;
    const list = messages.get(place) || [];
    list.push({ text: prefix + error.message, warning: error.warning });
    messages.set(place, list);
  }
  for (const [place, list] of messages) {
    place.textContent = list.map((m) => m.text).join('; ');
    place.hidden = false;
    place.classList.toggle('warning', list.every((m) => m.warning));
    if (!list.every((m) => m.warning)) {
      const input = root.querySelector(`[data-field="${CSS.escape(place.dataset.errorFor)}"]`);
      input?.setAttribute('aria-invalid', 'true');
    }
  }
  return unplaced;
}

/** The error element of a field. */
export function errorElement(path) {
  return h('p', { class: 'field-error', id: uid('err'), dataset: { errorFor: path }, hidden: true, 'aria-live': 'polite' });
}

/** A JSON textarea bound to a cell; parse errors go to `ctx.local`. */
export function jsonInput(cell, path, ctx, attrs = {}) {
  const value = cell.get();
  const textarea = h('textarea', {
    class: 'json', rows: attrs.rows || Math.min(10, Math.max(2, value === undefined ? 2 : JSON.stringify(value, null, 2).split('\n').length)),
    spellcheck: 'false', dataset: { field: path }, placeholder: attrs.placeholder, id: attrs.id, 'aria-label': attrs.label,
  });
  textarea.value = value === undefined ? '' : JSON.stringify(value, null, 2);
  textarea.addEventListener('input', () => {
    const text = textarea.value.trim();
    if (text === '') {
      ctx.local.delete(path);
      cell.set(undefined);
      return;
    }
    try {
      const parsed = JSON.parse(text);
      ctx.local.delete(path);
      cell.set(parsed);
    } catch (error) {
      ctx.local.set(path, `invalid JSON: ${error.message}`);
      ctx.changed();
    }
  });
  return textarea;
}

/**
 * Builds the form of a configuration into `container`.
 * @param options {schema, value, path, onChange(value), local: Map(path → message)}
 */
export function buildForm(container, { schema, value, path, onChange, local }) {
  const holder = { value: value === undefined ? undefined : JSON.parse(JSON.stringify(value)) };
  const ctx = {
    local,
    changed: () => onChange(holder.value),
  };
  const root = {
    get: () => holder.value,
    set: (v) => { holder.value = v; ctx.changed(); },
  };
  container.replaceChildren();
  if (kindOf(schema) === 'object') {
    objectMembers(container, schema, root, path, ctx);
    container.appendChild(errorElement(path));
  } else {
    container.appendChild(field('configuration', schema, root, path, ctx, true));
  }
}

function memberCell(parent, key) {
  return {
    get: () => { const o = parent.get(); return isObject(o) ? o[key] : undefined; },
    set: (v) => {
      let o = parent.get();
      if (!isObject(o)) {
        if (v === undefined) return;
        o = {};
        o[key] = v;
        parent.set(o);
        return;
      }
      if (v === undefined) delete o[key]; else o[key] = v;
      parent.set(o);
    },
  };
}

function itemCell(parent, index) {
  return {
    get: () => { const a = parent.get(); return Array.isArray(a) ? a[index] : undefined; },
    set: (v) => {
      const a = Array.isArray(parent.get()) ? parent.get() : [];
      a[index] = v === undefined ? null : v;
      parent.set(a);
    },
  };
}

function objectMembers(container, schema, cell, path, ctx) {
  const properties = schema.properties || {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const names = Object.keys(properties).sort((a, b) => (required.has(b) - required.has(a)) || (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    container.appendChild(field(name, properties[name], memberCell(cell, name), memberPath(path, name), ctx, required.has(name)));
  }
  // Members the schema does not name: shown so that they can be seen and removed.
  const value = cell.get();
  if (isObject(value)) {
    for (const name of Object.keys(value).sort()) {
      if (name in properties) continue;
      const extraSchema = isObject(schema.additionalProperties) ? schema.additionalProperties : {};
      const memberValueCell = memberCell(cell, name);
      const wrapper = field(name, extraSchema, memberValueCell, memberPath(path, name), ctx, false);
      wrapper.classList.add('extra');
      wrapper.appendChild(h('button', {
        type: 'button', class: 'small', text: 'Remove', 'aria-label': `Remove member ${name}`,
        onclick: () => { memberValueCell.set(undefined); wrapper.remove(); },
      }));
      container.appendChild(wrapper);
    }
  }
}

/** One labelled field with help text and error element. */
function field(name, schema, cell, path, ctx, required) {
  const kind = kindOf(schema);
  const id = uid('f');
  const help = schema?.description ? h('p', { class: 'help', id: uid('help'), text: schema.description }) : null;
  const error = errorElement(path);
  const describedBy = [help?.id, error.id].filter(Boolean).join(' ');

  if (kind === 'object') {
    const fieldset = h('fieldset', { class: 'object' },
      h('legend', null, name, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null), help);
    objectMembers(fieldset, schema, cell, path, ctx);
    fieldset.appendChild(error);
    return fieldset;
  }
  if (kind === 'array') return arrayField(name, schema, cell, path, ctx, required, help, error);
  if (kind === 'oneOf') return oneOfField(name, schema, cell, path, ctx, required, help, error);

  const label = h('label', { for: id }, name, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null);
  const wrapper = h('div', { class: `field kind-${kind}` });
  const value = cell.get();
  const fallback = schema?.default;
  let input;
  if (kind === 'boolean') {
    input = h('input', { type: 'checkbox', id, dataset: { field: path }, 'aria-describedby': describedBy });
    input.checked = value === undefined ? fallback === true : value === true;
    input.addEventListener('change', () => cell.set(input.checked));
    wrapper.append(...present(h('div', { class: 'check' }, input, label), help, error));
    return wrapper;
  }
  if (kind === 'enum') {
    input = h('select', { id, dataset: { field: path }, 'aria-describedby': describedBy });
    const options = schema.enum;
    if (!required || value === undefined) {
      input.appendChild(h('option', { value: '', text: fallback !== undefined ? `(default: ${canonicalJSON(fallback)})` : '(not set)' }));
    }
    options.forEach((option, i) => input.appendChild(h('option', { value: String(i), text: typeof option === 'string' ? option : canonicalJSON(option) })));
    const selected = value === undefined ? -1 : options.findIndex((o) => canonicalJSON(o) === canonicalJSON(value));
    if (value !== undefined && selected < 0) {
      input.appendChild(h('option', { value: 'current', text: `${canonicalJSON(value)} (not allowed)` }));
      input.value = 'current';
    } else input.value = selected < 0 ? '' : String(selected);
    input.addEventListener('change', () => {
      if (input.value === '') cell.set(undefined);
      else if (input.value !== 'current') cell.set(options[Number(input.value)]);
    });
  } else if (kind === 'number') {
    const isInteger = typeOf(schema) === 'integer';
    if (holdsReference(value) || (value !== undefined && typeof value !== 'number')) {
      input = h('input', { type: 'text', id, dataset: { field: path }, 'aria-describedby': describedBy });
      input.value = typeof value === 'string' ? value : JSON.stringify(value);
    } else {
      input = h('input', {
        type: 'number', id, step: isInteger ? '1' : 'any', min: schema.minimum, max: schema.maximum,
        dataset: { field: path }, 'aria-describedby': describedBy,
      });
      input.value = value === undefined ? '' : String(value);
    }
    if (fallback !== undefined) input.placeholder = String(fallback);
    input.addEventListener('input', () => {
      const raw = input.value.trim();
      if (raw === '') {
        if (input.validity && input.validity.badInput) {
          ctx.local.set(path, `expected ${isInteger ? 'an integer' : 'a number'}`);
          ctx.changed();
          return;
        }
        ctx.local.delete(path);
        cell.set(undefined);
        return;
      }
      ctx.local.delete(path);
      const number = Number(raw);
      cell.set(holdsReference(raw) || !Number.isFinite(number) ? raw : number);
    });
  } else if (kind === 'string') {
    const multiline = typeof value === 'string' && value.includes('\n');
    input = multiline
      ? h('textarea', { id, rows: 4, dataset: { field: path }, 'aria-describedby': describedBy })
      : h('input', { type: schema.format === 'uri' ? 'url' : 'text', id, dataset: { field: path }, 'aria-describedby': describedBy });
    input.value = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
    if (typeof fallback === 'string') input.placeholder = fallback;
    if (schema.maxLength != null) input.setAttribute('aria-description', `at most ${schema.maxLength} characters`);
    input.addEventListener('input', () => {
      if (input.value === '' && !required) cell.set(undefined);
      else cell.set(input.value);
    });
  } else {
    input = jsonInput(cell, path, ctx, { id, placeholder: fallback !== undefined ? JSON.stringify(fallback) : 'JSON value' });
    input.setAttribute('aria-describedby', describedBy);
    label.appendChild(h('span', { class: 'type-hint', text: ' (JSON)' }));
  }
  wrapper.append(...present(label, input, help, error));
  return wrapper;
}

function arrayField(name, schema, cell, path, ctx, required, help, error) {
  const fieldset = h('fieldset', { class: 'array' },
    h('legend', null, name, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null), help);
  const list = h('ol', { class: 'rows' });
  const draw = () => {
    list.replaceChildren();
    const items = Array.isArray(cell.get()) ? cell.get() : [];
    items.forEach((_, index) => {
      const itemPath = `${path}[${index}]`;
      const row = h('li', { class: 'row' });
      row.appendChild(field(`${name}[${index}]`, schema.items, itemCell(cell, index), itemPath, ctx, true));
      row.appendChild(h('button', {
        type: 'button', class: 'small remove', text: '✕', 'aria-label': `Remove ${name} item ${index + 1}`, title: 'Remove',
        onclick: () => {
          const array = cell.get();
          array.splice(index, 1);
          for (const key of [...ctx.local.keys()]) if (key.startsWith(path + '[')) ctx.local.delete(key);
          cell.set(array);
          draw();
          ctx.changed(); // again, now that the rows' error elements exist
        },
      }));
      list.appendChild(row);
    });
  };
  draw();
  const add = h('button', {
    type: 'button', class: 'small', text: `Add ${name} item`,
    onclick: () => {
      const array = Array.isArray(cell.get()) ? cell.get() : [];
      array.push(emptyValue(schema.items));
      cell.set(array);
      draw();
      ctx.changed();
      list.lastElementChild?.querySelector('input, select, textarea')?.focus();
    },
  });
  fieldset.append(list, add, error);
  if (cell.get() !== undefined && !Array.isArray(cell.get())) {
    // Not an array at all: let the user see and fix it as JSON.
    fieldset.replaceChildren(...present(h('legend', null, name), help, jsonInput(cell, path, ctx), error));
  }
  return fieldset;
}

function oneOfField(name, schema, cell, path, ctx, required, help, error) {
  const variants = schema.oneOf || schema.anyOf;
  const fieldset = h('fieldset', { class: 'one-of' },
    h('legend', null, name, required ? h('span', { class: 'required', title: 'required', text: ' *' }) : null), help);
  const id = uid('f');
  const select = h('select', { id, 'aria-label': `${name}: kind`, dataset: { variantFor: path } });
  variants.forEach((variant, i) => select.appendChild(h('option', { value: String(i), text: variantLabel(variant, i) })));
  const body = h('div', { class: 'variant' });
  const value = cell.get();
  let current = 0;
  if (value !== undefined) {
    const fits = variants.findIndex((variant) => matches(variant, value));
    current = fits < 0 ? 0 : fits;
  }
  select.value = String(current);
  const draw = () => {
    const variant = variants[Number(select.value)];
    body.replaceChildren(field(name, variant, cell, path, ctx, required));
    // The inner field repeats the label; keep the error element single.
    body.querySelector(`.field-error[data-error-for="${CSS.escape(path)}"]`)?.remove();
  };
  select.addEventListener('change', () => {
    cell.set(emptyValue(variants[Number(select.value)]));
    draw();
    ctx.changed();
  });
  draw();
  fieldset.append(h('label', { for: id, class: 'inline', text: 'kind ' }), select, body, error);
  return fieldset;
}

function matches(schema, value) {
  if (schema.const !== undefined) return canonicalJSON(schema.const) === canonicalJSON(value);
  if (Array.isArray(schema.enum)) return schema.enum.some((e) => canonicalJSON(e) === canonicalJSON(value));
  switch (typeOf(schema)) {
    case 'string': return typeof value === 'string';
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number';
    case 'boolean': return typeof value === 'boolean';
    case 'array': return Array.isArray(value);
    case 'object': {
      if (!isObject(value)) return false;
      const required = Array.isArray(schema.required) ? schema.required : [];
      return required.every((k) => k in value);
    }
    case 'null': return value === null;
    default: return true;
  }
}
