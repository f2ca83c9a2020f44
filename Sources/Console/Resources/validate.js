// Validation of a draft node the way the operator does it (Sources/JSONSchemaKit/
// SchemaValidation.swift, Sources/CRDModels/PortValidation.swift and NodeValidation.swift):
// the same checks, messages and field paths (`spec.ports[0].configuration.interval`), so that
// the page shows a problem next to the field the operator would name. Pure: no DOM.

/** The path of member `name` of the value at `path`: `a.b`, or `a["odd key"]`. */
export function memberPath(path, name) {
  const isIdentifier = name.length > 0 && /^[\p{L}\p{N}_-]+$/u.test(name);
  if (!isIdentifier) return `${path}[${JSON.stringify(name)}]`;
  return path === '' ? name : `${path}.${name}`;
}

/** JSON text with object keys sorted: stable for comparisons and display. */
export function canonicalJSON(value) {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonicalJSON).join(',') + ']';
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJSON(value[k])).join(',') + '}';
}

/** Deep equality of JSON values (numbers by value, object keys in any order). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!jsonEqual(a[k], b[k])) return false;
  return true;
}

export function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** A value as it appears in an error: JSON text, shortened when long. */
export function render(value) {
  const text = canonicalJSON(value);
  const chars = [...text];
  return chars.length > 64 ? chars.slice(0, 61).join('') + '...' : text;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function schemaType(schema) {
  if (!isObject(schema)) return undefined;
  const t = schema.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null');
  return typeof t === 'string' ? t : undefined;
}

function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : String(value);
}

/** What a valid value looks like, e.g. `integer >= 1` or `one of "GET", "POST"`. */
export function expectation(schema) {
  if (Array.isArray(schema.enum)) return 'one of ' + schema.enum.map(render).join(', ');
  const type = schemaType(schema);
  if (!type) return 'any value';
  let text = type;
  if (type === 'integer' || type === 'number') {
    const low = schema.minimum, high = schema.maximum;
    if (low != null && high != null) text += ` between ${formatNumber(low)} and ${formatNumber(high)}`;
    else if (low != null) text += ` >= ${formatNumber(low)}`;
    else if (high != null) text += ` <= ${formatNumber(high)}`;
  } else if (type === 'string') {
    const low = schema.minLength, high = schema.maxLength;
    if (low != null && high != null) text += ` of ${low} to ${high} characters`;
    else if (low != null) text += ` of at least ${low} characters`;
    else if (high != null) text += ` of at most ${high} characters`;
    if (schema.pattern != null) text += ` matching /${schema.pattern}/`;
  }
  return text;
}

function hasType(value, type) {
  switch (type) {
    case 'object': return isObject(value);
    case 'array': return Array.isArray(value);
    case 'string': return typeof value === 'string';
    case 'boolean': return typeof value === 'boolean';
    case 'integer': return typeof value === 'number' && Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    default: return true;
  }
}

function equalJSON(a, b) {
  if (jsonEqual(a, b)) return true;
  return typeof a === 'number' && typeof b === 'number' && a === b;
}

const segmenter = typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter() : null;
function characterCount(text) {
  if (segmenter) { let n = 0; for (const _ of segmenter.segment(text)) n++; return n; }
  return [...text].length;
}

const regexCache = new Map();
function compilePattern(pattern) {
  if (regexCache.has(pattern)) return regexCache.get(pattern);
  let regex = null;
  try { regex = new RegExp(pattern, 'u'); } catch {
    try { regex = new RegExp(pattern); } catch { regex = null; }
  }
  regexCache.set(pattern, regex);
  return regex;
}

/** Strings the operator does not validate as they are: `${param:…}`, `${secret:…}`, `${configmap:…}`. */
export function holdsReference(value) {
  return typeof value === 'string' && /\$\{(param|secret|configmap):/.test(value);
}

/** `value` with every absent object member that has a default filled in. */
export function applyingDefaults(schema, value) {
  if (!isObject(schema)) return value;
  if (isObject(value)) {
    const members = { ...value };
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const [name, member] of Object.entries(properties)) {
      if (members[name] !== undefined) members[name] = applyingDefaults(member, members[name]);
      else if (isObject(member) && member.default !== undefined) members[name] = applyingDefaults(member, clone(member.default));
    }
    if (isObject(schema.additionalProperties)) {
      for (const name of Object.keys(members)) {
        if (!(name in properties)) members[name] = applyingDefaults(schema.additionalProperties, members[name]);
      }
    }
    return members;
  }
  if (Array.isArray(value) && isObject(schema.items)) return value.map((v) => applyingDefaults(schema.items, v));
  return value;
}

/** The configuration a port takes when a node gives none: the schema default, or an object of its members' defaults. */
export function defaultConfiguration(schema) {
  if (!isObject(schema)) return undefined;
  if (schema.default !== undefined) return applyingDefaults(schema, clone(schema.default));
  if (schemaType(schema) !== 'object') return undefined;
  return applyingDefaults(schema, {});
}

/** Every way `value` breaks `schema`: `[{path, message}]`, in document order. */
export function violations(schema, value, path = '') {
  const found = [];
  collect(schema, value, path, found);
  return found;
}

function collect(schema, value, path, found) {
  if (!isObject(schema)) return;
  if (holdsReference(value)) return;
  const type = schemaType(schema);
  const nullable = schema.nullable === true || (Array.isArray(schema.type) && schema.type.includes('null'));
  if (value === null || value === undefined) {
    if (nullable || !type) return;
    found.push({ path, message: `expected ${expectation(schema)}, got null` });
    return;
  }
  if (type && !hasType(value, type)) {
    found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => equalJSON(e, value))) {
    found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    return;
  }
  if (typeof value === 'number') {
    if (schema.minimum != null && value < schema.minimum) found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    else if (schema.maximum != null && value > schema.maximum) found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
  } else if (typeof value === 'string') {
    const length = characterCount(value);
    if (schema.minLength != null && length < schema.minLength) found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    else if (schema.maxLength != null && length > schema.maxLength) found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    else if (schema.pattern != null) {
      const regex = compilePattern(schema.pattern);
      if (regex && !regex.test(value)) found.push({ path, message: `expected ${expectation(schema)}, got ${render(value)}` });
    }
  } else if (Array.isArray(value)) {
    if (schema.minItems != null && value.length < schema.minItems) found.push({ path, message: `expected at least ${schema.minItems} items, got ${value.length}` });
    if (schema.maxItems != null && value.length > schema.maxItems) found.push({ path, message: `expected at most ${schema.maxItems} items, got ${value.length}` });
    if (schema.uniqueItems === true && new Set(value.map(canonicalJSON)).size !== value.length) found.push({ path, message: 'expected distinct items, got duplicates' });
    if (isObject(schema.items)) value.forEach((element, index) => collect(schema.items, element, `${path}[${index}]`, found));
  } else if (isObject(value)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const name of Array.isArray(schema.required) ? schema.required : []) {
      if (value[name] === undefined) found.push({ path: memberPath(path, name), message: 'required field is missing' });
    }
    for (const name of Object.keys(value).sort()) {
      const member = value[name];
      if (member === undefined) continue;
      const at = memberPath(path, name);
      if (name in properties) collect(properties[name], member, at, found);
      else if (isObject(schema.additionalProperties)) collect(schema.additionalProperties, member, at, found);
      else if (schema.additionalProperties === false) {
        found.push({ path: at, message: `unknown field (known fields: ${Object.keys(properties).sort().join(', ')})` });
      }
    }
  }
  // oneOf is not checked by the operator; the page only uses it to offer alternatives.
}

/** Why `name` cannot name a new node (DNS-1123 label), or null. */
export function labelProblem(name) {
  if (!name) return 'a node needs a name';
  if (name.length > 63) return `a name is at most 63 characters, this one has ${name.length}`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    return `"${name}" is not a valid name: lowercase letters, digits and '-', starting and ending with a letter or digit`;
  }
  return null;
}

/** `in`/`input` → 'input', `out`/`output` → 'output'. */
export function direction(port) {
  const d = port && port.direction;
  if (d === 'in' || d === 'input') return 'input';
  if (d === 'out' || d === 'output') return 'output';
  return d || 'input';
}

const edgeTarget = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[A-Za-z0-9_][-A-Za-z0-9_]*$/;

/**
 * Every problem with a draft node, as `[{path, message, warning?}]` with the operator's paths.
 * `component`: `{name, ports}` or null when unknown; `componentProblem`: `{path, message}` when
 * the component cannot be resolved; `targetPorts(node)`: `null` when the draft has no such node,
 * else `{component, ports}` with `ports` undefined when the target's component is not known.
 */
export function validateNode(spec, { component, componentProblem, targetPorts }) {
  const found = [];
  if (!spec.module) found.push({ path: 'spec.module', message: 'a node needs a module' });
  else if (!spec.component) found.push({ path: 'spec.component', message: 'a node needs a component' });
  else if (componentProblem) found.push(componentProblem);
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  if (component) {
    const seen = new Set();
    ports.forEach((entry, index) => {
      const entryPath = `spec.ports[${index}]`;
      if (seen.has(entry.port)) {
        found.push({ path: `${entryPath}.port`, message: `port "${entry.port}" is configured twice` });
        return;
      }
      seen.add(entry.port);
      const port = component.ports.find((p) => p.name === entry.port);
      if (!port) {
        found.push({ path: `${entryPath}.port`, message: `component "${component.name}" has no port "${entry.port}" (ports: ${component.ports.map((p) => p.name).join(', ')})` });
        return;
      }
      if (port.configurationSchema == null) {
        found.push({ path: `${entryPath}.configuration`, message: `port "${port.name}" of component "${component.name}" takes no configuration` });
        return;
      }
      const schema = port.configurationSchema;
      found.push(...violations(schema, applyingDefaults(schema, entry.configuration), `${entryPath}.configuration`));
    });
  }
  const ids = new Set();
  (Array.isArray(spec.edges) ? spec.edges : []).forEach((edge, index) => {
    const path = `spec.edges[${index}]`;
    if (ids.has(edge.id)) found.push({ path: `${path}.id`, message: `edge id "${edge.id}" is used twice` });
    ids.add(edge.id);
    if (!edge.id) found.push({ path: `${path}.id`, message: 'expected string of at least 1 characters, got ""' });
    if (component && !component.ports.some((p) => p.name === edge.port && direction(p) === 'output')) {
      const outputs = component.ports.filter((p) => direction(p) === 'output').map((p) => p.name).join(', ');
      found.push({ path: `${path}.port`, message: `component "${component.name}" has no output port "${edge.port}" (outputs: ${outputs})` });
    }
    const to = typeof edge.to === 'string' ? edge.to : '';
    const colon = to.indexOf(':');
    if (colon <= 0 || colon === to.length - 1 || to.indexOf(':', colon + 1) >= 0) {
      found.push({ path: `${path}.to`, message: `expected <node>:<port>, got "${to}"` });
      return;
    }
    const nodeName = to.slice(0, colon), portName = to.slice(colon + 1);
    if (!edgeTarget.test(to)) {
      found.push({ path: `${path}.to`, message: `expected string matching /${edgeTarget.source}/, got ${render(to)}` });
      return;
    }
    const target = targetPorts(nodeName);
    if (target === null) {
      found.push({ path: `${path}.to`, message: `no node "${nodeName}" in this flow (the server also looks in the namespace)`, warning: true });
    } else if (Array.isArray(target.ports)) {
      const inputs = target.ports.filter((p) => direction(p) === 'input' && !p.isSettings);
      if (!inputs.some((p) => p.name === portName)) {
        found.push({ path: `${path}.to`, message: `node "${nodeName}" (${target.component}) has no input port "${portName}" (inputs: ${inputs.map((p) => p.name).join(', ')})` });
      }
    }
  });
  return found;
}
