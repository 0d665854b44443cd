// Hash routes: #/<path segments>?<query>. Segments are URI-encoded, so a
// conversation id with slashes or spaces survives the round trip.

// parse turns a location hash into {segments, params}.
export function parse(hash) {
  let h = hash || '';
  if (h.startsWith('#')) h = h.slice(1);
  if (!h.startsWith('/')) h = '/' + h;
  const q = h.indexOf('?');
  const path = q >= 0 ? h.slice(0, q) : h;
  const query = q >= 0 ? h.slice(q + 1) : '';
  const segments = path.split('/').filter((x) => x !== '').map((x) => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  });
  const params = new URLSearchParams(query);
  return {segments, params};
}

// build makes a hash from segments and params ({k: v}; empty values are
// left out).
export function build(segments, params) {
  let h = '#/' + segments.map((x) => encodeURIComponent(x)).join('/');
  const q = new URLSearchParams();
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
  }
  const qs = q.toString();
  if (qs) h += '?' + qs;
  return h;
}

// The current project: ?p= on the route, else the server's default. Links
// carry p only when it is not the default, so default-project links stay
// short.
let defaultProject = 'local/default';
let currentProject = '';

export function setDefaultProject(p) {
  defaultProject = p;
}

export function getDefaultProject() {
  return defaultProject;
}

export function setCurrentProject(p) {
  currentProject = p;
}

export function project() {
  return currentProject || defaultProject;
}

function withProject(params) {
  const p = project();
  return p && p !== defaultProject ? {...params, p} : {...params};
}

// Link builders for every view.
export const link = {
  conversations: (params) => build([], withProject(params)),
  conversation: (id, params) => build(['c', id], withProject(params)),
  trace: (traceID, params) => build(['t', traceID], withProject(params)),
  agents: (params) => build(['agents'], withProject(params)),
  agent: (name, params) => build(['agents', name], withProject(params)),
  search: (params) => build(['search'], withProject(params)),
  metrics: (params) => build(['metrics'], withProject(params)),
};

export function go(hash) {
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    return;
  }
  location.hash = hash;
}

// replaceParams updates the current route's query without a new history
// entry and without re-rendering the view.
export function replaceParams(params) {
  const {segments, params: cur} = parse(location.hash);
  const next = {};
  for (const [k, v] of cur.entries()) next[k] = v;
  Object.assign(next, params);
  const hash = build(segments, next);
  history.replaceState(history.state, '', hash);
}
