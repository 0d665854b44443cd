// The live poller: every few seconds (while the page is visible) it asks
// /genai/spans/active for the project's running spans and hands them to
// every subscriber. Views use it to refresh a running turn, to show new
// turns without a reload, and to notice when a running turn finished.

import {post, isAbort} from './api.js';
import {project} from './route.js';

export const POLL_MS = 2000;

const subscribers = new Set();
let timer = null;
let inflight = null;
let last = {project: '', spans: [], error: null, at: 0};

// subscribe calls fn(state) after every poll, where state is {project,
// spans, error, at}; it returns the unsubscribe function. The first call
// comes with the last known state, at once.
export function subscribe(fn) {
  subscribers.add(fn);
  if (last.at && last.project === project()) fn(last);
  schedule(0);
  return () => subscribers.delete(fn);
}

// pollNow polls at once (after a write, or when a view wants fresh data).
export function pollNow() {
  schedule(0);
}

function schedule(ms) {
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(poll, ms);
}

async function poll() {
  timer = null;
  if (subscribers.size === 0) return;
  if (document.hidden) {
    // Resumed by the visibilitychange listener.
    return;
  }
  if (inflight) inflight.abort();
  const ctrl = new AbortController();
  inflight = ctrl;
  const p = project();
  try {
    const resp = await post('/genai/spans/active', {project_id: p, limit: 1000}, ctrl.signal);
    last = {project: p, spans: resp.spans || [], error: null, at: Date.now()};
  } catch (err) {
    if (isAbort(err)) return;
    last = {project: p, spans: last.project === p ? last.spans : [], error: err, at: Date.now()};
  } finally {
    if (inflight === ctrl) inflight = null;
  }
  for (const fn of [...subscribers]) {
    try {
      fn(last);
    } catch (err) {
      console.error('weave: live subscriber failed', err);
    }
  }
  schedule(POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && subscribers.size > 0) schedule(0);
});

// runningTraces returns the distinct trace ids of the active spans.
export function runningTraces(spans) {
  return new Set((spans || []).map((s) => s.trace_id));
}

// signature is a stable summary of an active set, to detect a change.
export function signature(spans) {
  return (spans || []).map((s) => s.trace_id + '/' + s.span_id).sort().join(',');
}
