// Feedback: thumbs up / down and notes on a span, a turn or a
// conversation, stored through the annotations API and shown afterwards.
//
// One thumbs annotation per target: its id is derived from the ref, so a
// second click replaces the first (up → down) and clicking the active
// thumb again deletes it (the server also keeps one thumbs per ref and
// author, whatever the id). Notes are separate annotations, listed under
// the target with a delete button. Where the widget is out of sight (a
// collapsed tool call), summary() marks the feedback given.

import {h, icon, replace} from './dom.js';
import {post, isAbort} from './api.js';
import {project} from './route.js';
import {relTime, fmtTime} from './format.js';
import {showError} from './ui.js';

// cache: ref → annotations (newest first), for the current project.
const cache = new Map();
let cacheProject = '';
const widgets = new Map(); // ref → Set of refresh functions

function resetIfProjectChanged() {
  if (cacheProject !== project()) {
    cache.clear();
    cacheProject = project();
  }
}

// thumbsID derives the id of a target's thumbs annotation from its ref
// (cyrb53, 53 bits, in base 36).
export function thumbsID(ref) {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < ref.length; i++) {
    const ch = ref.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const n = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return 'thumbs-' + n.toString(36);
}

// load fetches the annotations of refs (in chunks of the API's limit) into
// the cache and refreshes their widgets.
export async function load(refs, signal) {
  resetIfProjectChanged();
  const want = [...new Set(refs)];
  for (let i = 0; i < want.length; i += 1000) {
    const chunk = want.slice(i, i + 1000);
    let resp;
    try {
      resp = await post('/genai/annotations/query', {project_id: project(), refs: chunk, limit: 10000}, signal);
    } catch (err) {
      if (!isAbort(err)) showError('Could not load feedback', err);
      return;
    }
    for (const r of chunk) cache.set(r, []);
    for (const a of resp.annotations || []) {
      if (!cache.has(a.ref)) cache.set(a.ref, []);
      cache.get(a.ref).push(a);
    }
    for (const r of chunk) refresh(r);
  }
}

function refresh(ref) {
  for (const fn of widgets.get(ref) || []) fn();
}

function annotationsOf(ref) {
  return cache.get(ref) || [];
}

async function upsert(body) {
  const resp = await post('/genai/annotations/upsert', {project_id: project(), ...body});
  const a = resp.annotation;
  const list = annotationsOf(a.ref).filter((x) => x.id !== a.id);
  list.unshift(a);
  cache.set(a.ref, list);
  refresh(a.ref);
  return a;
}

async function remove(ref, id) {
  await post('/genai/annotations/delete', {project_id: project(), id});
  cache.set(ref, annotationsOf(ref).filter((x) => x.id !== id));
  refresh(ref);
}

// widget returns the feedback control for ref. label names the target for
// screen readers ("turn 3", "conversation", "span Bash").
export function widget(ref, label, opts = {}) {
  const root = h('div', {class: ['feedback', opts.compact && 'compact'], dataset: {ref}});
  const up = h('button', {type: 'button', class: 'fb-btn fb-up', title: 'Good', 'aria-label': `Thumbs up for ${label}`, 'aria-pressed': 'false'}, icon('thumb-up'));
  const down = h('button', {type: 'button', class: 'fb-btn fb-down', title: 'Bad', 'aria-label': `Thumbs down for ${label}`, 'aria-pressed': 'false'}, icon('thumb-down'));
  const noteBtn = h('button', {type: 'button', class: 'fb-btn fb-note', title: 'Add a note', 'aria-label': `Add a note to ${label}`, 'aria-expanded': 'false'}, icon('note'));
  const notes = h('ul', {class: 'fb-notes'});
  const form = h('form', {class: 'fb-form', hidden: true});
  const area = h('textarea', {class: 'fb-text', rows: '3', maxlength: '20000', placeholder: 'Note (what went well, what went wrong)', 'aria-label': `Note for ${label}`});
  const save = h('button', {type: 'submit', class: 'button primary'}, 'Save note');
  const cancel = h('button', {type: 'button', class: 'button'}, 'Cancel');
  form.append(area, h('div', {class: 'fb-form-actions'}, save, cancel));
  const bar = h('div', {class: 'fb-bar'}, up, down, noteBtn);
  root.append(bar, form, notes);

  const thumbs = () => annotationsOf(ref).find((a) => a.kind === 'thumbs');
  const render = () => {
    const t = thumbs();
    const v = t ? t.value : '';
    up.setAttribute('aria-pressed', String(v === 'up'));
    down.setAttribute('aria-pressed', String(v === 'down'));
    root.classList.toggle('has-feedback', !!t || annotationsOf(ref).some((a) => a.kind === 'note'));
    const ns = annotationsOf(ref).filter((a) => a.kind === 'note');
    replace(notes, ns.map((a) => h('li', {class: 'fb-note-item', dataset: {id: a.id}},
      h('span', {class: 'fb-note-text'}, String(a.value)),
      h('span', {class: 'fb-note-meta', title: fmtTime(a.created_at)}, relTime(a.created_at)),
      h('button', {type: 'button', class: 'fb-del', title: 'Delete note', 'aria-label': 'Delete note',
        on: {click: () => act(() => remove(ref, a.id))}}, icon('close')))));
  };

  let busy = false;
  const act = async (fn) => {
    if (busy) return;
    busy = true;
    root.classList.add('busy');
    try {
      await fn();
    } catch (err) {
      showError('Could not save feedback', err);
    } finally {
      busy = false;
      root.classList.remove('busy');
    }
  };
  const setThumb = (value) => act(async () => {
    const t = thumbs();
    if (t && t.value === value) {
      await remove(ref, t.id);
      return;
    }
    await upsert({id: thumbsID(ref), ref, kind: 'thumbs', value});
  });
  up.addEventListener('click', () => setThumb('up'));
  down.addEventListener('click', () => setThumb('down'));
  const closeForm = () => {
    form.hidden = true;
    noteBtn.setAttribute('aria-expanded', 'false');
    area.value = '';
  };
  noteBtn.addEventListener('click', () => {
    form.hidden = !form.hidden;
    noteBtn.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) area.focus();
  });
  cancel.addEventListener('click', closeForm);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      closeForm();
      noteBtn.focus();
    } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = area.value.trim();
    if (!v) return;
    act(async () => {
      await upsert({ref, kind: 'note', value: v});
      closeForm();
    });
  });

  if (!widgets.has(ref)) widgets.set(ref, new Set());
  widgets.get(ref).add(render);
  root.dispose = () => widgets.get(ref)?.delete(render);
  render();
  return root;
}

// summary returns a small read-only mark of the feedback on ref, for a
// place where the widget itself is out of sight (a collapsed tool call):
// the thumbs given and the number of notes, hidden while there is none.
export function summary(ref) {
  const root = h('span', {class: 'feedback fb-summary', dataset: {ref}, role: 'img', hidden: true});
  const render = () => {
    const t = annotationsOf(ref).find((a) => a.kind === 'thumbs');
    const notes = annotationsOf(ref).filter((a) => a.kind === 'note');
    const parts = [];
    if (t) parts.push(t.value === 'up' ? 'thumbs up' : 'thumbs down');
    if (notes.length) parts.push(notes.length === 1 ? '1 note' : `${notes.length} notes`);
    root.hidden = parts.length === 0;
    root.setAttribute('aria-label', 'Feedback: ' + parts.join(', '));
    root.title = parts.length ? 'Feedback: ' + parts.join(', ') + (notes.length ? '\n' + notes.map((a) => '• ' + String(a.value)).join('\n') : '') : '';
    replace(root,
      t ? h('span', {class: 'fb-mark ' + (t.value === 'up' ? 'up' : 'down')}, icon(t.value === 'up' ? 'thumb-up' : 'thumb-down')) : null,
      notes.length ? h('span', {class: 'fb-mark note'}, icon('note'), notes.length > 1 ? String(notes.length) : null) : null);
  };
  if (!widgets.has(ref)) widgets.set(ref, new Set());
  widgets.get(ref).add(render);
  root.dispose = () => widgets.get(ref)?.delete(render);
  render();
  return root;
}

// disposeWithin unregisters the widgets inside el (when a view or a turn is
// re-rendered).
export function disposeWithin(el) {
  for (const w of el.querySelectorAll('.feedback')) if (w.dispose) w.dispose();
}
