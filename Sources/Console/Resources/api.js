// The console's API client: the token from the page's URL fragment, `Authorization: Bearer`
// on every request, the session cookie for the event stream, and errors as ApiError.

const TOKEN_KEY = 'tinyflow-console-token';

/**
 * Takes `token=…` out of the URL fragment (into sessionStorage) and returns the token,
 * or null when there is none. What else the fragment says (a route) stays.
 */
export function takeToken() {
  const hash = location.hash.replace(/^#/, '');
  const parts = hash.split('&');
  let found = null;
  const rest = [];
  for (const part of parts) {
    if (part.startsWith('token=')) found = decodeURIComponent(part.slice(6));
    else if (part) rest.push(part);
  }
  if (found) {
    try { sessionStorage.setItem(TOKEN_KEY, found); } catch { /* storage disabled: keep in memory */ }
    memoryToken = found;
    const fragment = rest.length ? '#' + rest.join('&') : '';
    history.replaceState(null, '', location.pathname + location.search + fragment);
  }
  try { return sessionStorage.getItem(TOKEN_KEY) || memoryToken; } catch { return memoryToken; }
}

let memoryToken = null;
let token = null;
let onUnauthorized = () => {};

export function configure(options) {
  token = options.token;
  onUnauthorized = options.onUnauthorized || onUnauthorized;
}

/** An answer of the API that is not a success: `{status, error, reason, details}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    super(error);
    this.status = status;
    this.error = error;
    this.reason = body?.reason || '';
    this.details = Array.isArray(body?.details) ? body.details : [];
  }

  /** The text shown to the user. */
  get text() {
    if (this.status === 403) return `forbidden: ${this.error}`;
    if (this.status === 0) return this.error;
    return this.reason ? `${this.error} (${this.reason})` : this.error;
  }
}

/** `fetch` with the token; JSON in and out; throws ApiError. */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { error: `the console server cannot be reached (${error.message})`, reason: 'Unreachable' });
  }
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError(401, { error: 'the console needs its token', reason: 'Unauthorized' });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let parsed = null;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = { error: text.slice(0, 300) }; }
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

const enc = encodeURIComponent;

export const api = {
  session: () => request('POST', '/api/session'),
  flows: () => request('GET', '/api/flows'),
  flow: (name) => request('GET', `/api/flows/${enc(name)}`),
  revisions: (name) => request('GET', `/api/flows/${enc(name)}/revisions`),
  revision: (name, n) => request('GET', `/api/flows/${enc(name)}/revisions/${enc(n)}`),
  deploy: (name, summary, nodes, dryRun) =>
    request('POST', `/api/flows/${enc(name)}`, dryRun ? { summary, nodes, dryRun: true } : { summary, nodes }),
  rollback: (name, revision) => request('POST', `/api/flows/${enc(name)}/rollback`, { revision }),
  signal: (name, node, port, payload) => request('POST', `/api/flows/${enc(name)}/signals`, { node, port, payload }),
  messages: (name, node) => request('GET', `/api/flows/${enc(name)}/nodes/${enc(node)}/messages`),
  modules: () => request('GET', '/api/modules'),
};

/**
 * The flow's event stream (authenticated by the session cookie). `handlers` has one
 * function per event name plus `open` and `down`. On a broken stream the session is renewed
 * (a 401 there shows the refusal) and the stream reopened with a growing delay.
 */
export function openEvents(flow, handlers) {
  let source = null;
  let closed = false;
  let retry = 1000;
  let timer = null;
  let wasDown = false;

  const connect = () => {
    if (closed) return;
    source = new EventSource(`/api/events?flow=${enc(flow)}`);
    source.addEventListener('open', () => {
      retry = 1000;
      handlers.open?.(wasDown);
      wasDown = false;
    });
    for (const name of ['flow', 'node', 'rates', 'debug', 'problem']) {
      source.addEventListener(name, (event) => {
        let data;
        try { data = JSON.parse(event.data); } catch { return; }
        handlers[name]?.(data);
      });
    }
    source.addEventListener('error', () => {
      if (closed) return;
      wasDown = true;
      handlers.down?.();
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        timer = setTimeout(async () => {
          timer = null;
          try {
            await api.session();
          } catch (error) {
            if (error.status === 401) return;
          }
          connect();
        }, retry);
        retry = Math.min(retry * 2, 30000);
      }
    });
  };
  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      source?.close();
    },
  };
}
