// The read API client: POST JSON to /genai/... on the same origin, with the
// API key (when the user gave one) as a bearer token. Errors come back as
// APIError carrying the envelope's code, message and field.

const KEY_STORAGE = 'weave.apiKey';

export class APIError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

export function setAPIKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key lasts for this page only.
  }
  memoryKey = key;
}

let memoryKey = '';

function headers(json) {
  const hdr = {Accept: 'application/json'};
  if (json) hdr['Content-Type'] = 'application/json';
  const key = apiKey() || memoryKey;
  if (key) hdr.Authorization = 'Bearer ' + key;
  return hdr;
}

async function decode(resp) {
  let body = null;
  const text = await resp.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (resp.ok) {
    if (body === null) throw new APIError(resp.status, 'bad_response', 'the server answered something that is not JSON');
    return body;
  }
  const e = body && body.error;
  const err = e
    ? new APIError(resp.status, e.code || 'error', e.message || resp.statusText, e.field)
    : new APIError(resp.status, 'http_' + resp.status, `${resp.status} ${resp.statusText}`.trim());
  if (resp.status === 401) window.dispatchEvent(new CustomEvent('weave:auth-required', {detail: err.message}));
  throw err;
}

// Read requests in flight, shown on <html data-requests> for people
// debugging and for the browser tests, which wait for 0 before they click
// (a list still filling in moves under the pointer). It drops a task after
// a request settles, so the view that awaited it has rendered by then.
let inFlight = 0;

function track(promise) {
  inFlight++;
  document.documentElement.dataset.requests = String(inFlight);
  const settled = () => setTimeout(() => {
    inFlight--;
    document.documentElement.dataset.requests = String(inFlight);
  }, 0);
  promise.then(settled, settled);
  return promise;
}

// post calls a read API endpoint with body and returns the decoded answer.
export function post(path, body, signal) {
  return track(postNow(path, body, signal));
}

async function postNow(path, body, signal) {
  let resp;
  try {
    resp = await fetch(path, {
      method: 'POST',
      headers: headers(true),
      body: JSON.stringify(body),
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new APIError(0, 'unreachable', 'weave-server is not reachable (' + (err && err.message ? err.message : err) + ')');
  }
  return decode(resp);
}

// get calls a GET endpoint.
export function get(path, signal) {
  return track(getNow(path, signal));
}

async function getNow(path, signal) {
  let resp;
  try {
    resp = await fetch(path, {headers: headers(false), signal, credentials: 'same-origin', cache: 'no-store'});
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new APIError(0, 'unreachable', 'weave-server is not reachable (' + (err && err.message ? err.message : err) + ')');
  }
  return decode(resp);
}

// download posts body to an endpoint that streams a file (/genai/export)
// and saves the answer as filename. Errors come back as APIError, as for
// post.
export async function download(path, body, filename) {
  let resp;
  try {
    resp = await fetch(path, {method: 'POST', headers: headers(true), body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store'});
  } catch (err) {
    throw new APIError(0, 'unreachable', 'weave-server is not reachable (' + (err && err.message ? err.message : err) + ')');
  }
  if (!resp.ok) return decode(resp);
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}

// isAbort reports whether err is the cancellation of a request the UI no
// longer needs (the user navigated away).
export function isAbort(err) {
  return !!err && err.name === 'AbortError';
}

// Annotation refs, exactly as the server canonicalises them.
export const refs = {
  span: (spanID) => 'agent_span/' + String(spanID).toLowerCase(),
  turn: (traceID) => 'agent_turn/' + String(traceID).toLowerCase(),
  conversation: (id) => 'agent_conversation/' + encodeURIComponent(id),
  agent: (name) => 'agent/' + encodeURIComponent(name),
};
