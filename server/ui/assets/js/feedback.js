// Feedback: thumbs up / down, notes and named scores on a span, a turn, a
// conversation or an agent, stored through the annotations API and shown
// afterwards.
//
// One thumbs annotation per target: its id is derived from the ref, so a
// second click replaces the first (up → down) and clicking the active
// thumb again deletes it (the server also keeps one thumbs per ref and
// author, whatever the id). Notes are separate annotations, listed under
// the target with a delete button. A score (numeric, boolean or
// categorical) has one current value per target, name and author (the
// server derives its id), shown as a chip with its value. Where the widget
// is out of sight (a collapsed tool call), summary() marks the feedback
// given.

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
// opts.traceID is the trace of a span ref's span (a score on a span needs
// it to count in its conversation and agent).
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
  const scoreBtn = h('button', {type: 'button', class: 'fb-btn fb-score', title: 'Add a score', 'aria-label': `Score ${label}`, 'aria-expanded': 'false'}, icon('score'));
  const scores = h('ul', {class: 'fb-scores'});
  const scoreForm = scoreEditor(label, (body) => act(async () => {
    await upsert({ref, kind: 'score', trace_id: opts.traceID || undefined, ...body});
    scoreForm.hidden = true;
    scoreBtn.setAttribute('aria-expanded', 'false');
  }), () => {
    scoreForm.hidden = true;
    scoreBtn.setAttribute('aria-expanded', 'false');
    scoreBtn.focus();
  });
  scoreBtn.addEventListener('click', () => {
    scoreForm.hidden = !scoreForm.hidden;
    scoreBtn.setAttribute('aria-expanded', String(!scoreForm.hidden));
    if (!scoreForm.hidden) scoreForm.querySelector('input').focus();
  });
  const bar = h('div', {class: 'fb-bar'}, up, down, noteBtn, scoreBtn);
  root.append(bar, form, scoreForm, scores, notes);

  const thumbs = () => annotationsOf(ref).find((a) => a.kind === 'thumbs');
  const render = () => {
    const t = thumbs();
    const v = t ? t.value : '';
    up.setAttribute('aria-pressed', String(v === 'up'));
    down.setAttribute('aria-pressed', String(v === 'down'));
    root.classList.toggle('has-feedback', !!t || annotationsOf(ref).some((a) => a.kind === 'note' || a.kind === 'score'));
    replace(scores, annotationsOf(ref).filter((a) => a.kind === 'score').map((a) => h('li', {class: 'fb-score-item', dataset: {id: a.id, name: a.name}},
      h('span', {class: 'fb-score-name'}, a.name), ' ', h('strong', {class: 'fb-score-value'}, scoreText(a)),
      a.author ? h('span', {class: 'fb-note-meta'}, ' · ' + a.author) : null,
      h('span', {class: 'fb-note-meta', title: fmtTime(a.updated_at)}, ' ' + relTime(a.updated_at)),
      h('button', {type: 'button', class: 'fb-del', title: 'Delete score', 'aria-label': `Delete score ${a.name}`,
        on: {click: () => act(() => remove(ref, a.id))}}, icon('close')))));
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

// scoreText renders one score's value: 4 / 5, yes / no, the category.
export function scoreText(a) {
  if (a.data_type === 'boolean') return a.value ? 'yes' : 'no';
  if (a.data_type === 'numeric') return String(a.value) + (a.max !== undefined && a.max !== null ? ' / ' + a.max : '');
  return String(a.value);
}

// scoreEditor is the form that adds a score: name, type, value (and bounds
// for a number). onSave gets the annotation fields.
function scoreEditor(label, onSave, onCancel) {
  const name = h('input', {class: 'input fb-score-name-input', placeholder: 'Score name (e.g. helpfulness)', maxlength: '128', 'aria-label': `Score name for ${label}`, required: true});
  const type = h('select', {class: 'input', 'aria-label': 'Score type'},
    h('option', {value: 'numeric'}, 'number'), h('option', {value: 'boolean'}, 'yes / no'), h('option', {value: 'categorical'}, 'category'));
  const num = h('input', {class: 'input', type: 'number', step: 'any', placeholder: 'value', 'aria-label': 'Score value'});
  const lo = h('input', {class: 'input fb-bound', type: 'number', step: 'any', placeholder: 'min', 'aria-label': 'Lowest possible value'});
  const hi = h('input', {class: 'input fb-bound', type: 'number', step: 'any', placeholder: 'max', 'aria-label': 'Highest possible value'});
  const yes = h('select', {class: 'input', 'aria-label': 'Score value', hidden: true}, h('option', {value: 'true'}, 'yes'), h('option', {value: 'false'}, 'no'));
  const cat = h('input', {class: 'input', placeholder: 'category', maxlength: '256', 'aria-label': 'Score category', hidden: true});
  const sync = () => {
    const t = type.value;
    for (const el of [num, lo, hi]) el.hidden = t !== 'numeric';
    yes.hidden = t !== 'boolean';
    cat.hidden = t !== 'categorical';
  };
  type.addEventListener('change', sync);
  const cancel = h('button', {type: 'button', class: 'button', on: {click: onCancel}}, 'Cancel');
  const form = h('form', {class: 'fb-form fb-score-form', hidden: true},
    h('div', {class: 'fb-score-fields'}, name, type, num, lo, hi, yes, cat),
    h('div', {class: 'fb-form-actions'}, h('button', {type: 'submit', class: 'button primary'}, 'Save score'), cancel));
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onCancel();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = {name: name.value.trim(), data_type: type.value};
    if (!body.name) return;
    if (body.data_type === 'numeric') {
      if (num.value === '') return;
      body.value = Number(num.value);
      if (lo.value !== '') body.min = Number(lo.value);
      if (hi.value !== '') body.max = Number(hi.value);
    } else if (body.data_type === 'boolean') {
      body.value = yes.value === 'true';
    } else {
      body.value = cat.value.trim();
      if (!body.value) return;
    }
    onSave(body);
  });
  return form;
}
