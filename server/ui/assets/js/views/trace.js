// One trace (a turn): the span tree as a waterfall, and the selected span's
// attributes.

import {h, replace, clear} from '../dom.js';
import {post, isAbort, refs} from '../api.js';
import * as route from '../route.js';
import * as live from '../live.js';
import * as feedback from '../feedback.js';
import {fmtTime, fmtDuration, fmtInt, fmtTokens, usageTitle, prettyJSON, shortID, parseTime, fmtClock, cacheSplit} from '../format.js';
import {loading, errorBox, runningBadge, errorBadge, tokens, cost, confirmDelete} from '../ui.js';
import {select, onEscape} from '../keys.js';

// spanLabel is the name a span is shown by: the producer's display name
// (wandb.display_name) when it sent one, else its span name.
const spanLabel = (s) => s.display_name || s.span_name;

function ms(t) {
  const d = parseTime(t);
  return d ? d.getTime() : null;
}

// tree orders spans in preorder with their depth; a span whose parent is
// not in the trace is a root (as the chat view does).
export function tree(spans) {
  const byID = new Map(spans.map((s) => [s.span_id, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && byID.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
      if (!kids.has(s.parent_span_id)) kids.set(s.parent_span_id, []);
      kids.get(s.parent_span_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const order = (a, b) => (ms(a.started_at) ?? Infinity) - (ms(b.started_at) ?? Infinity) || (a.span_id < b.span_id ? -1 : 1);
  const out = [];
  const seen = new Set();
  const walk = (s, depth) => {
    if (seen.has(s.span_id)) return;
    seen.add(s.span_id);
    const children = (kids.get(s.span_id) || []).sort(order);
    out.push({span: s, depth, children: children.length});
    for (const c of children) walk(c, depth + 1);
  };
  for (const r of roots.sort(order)) walk(r, 0);
  // Spans on a parent cycle are not reachable from a root: show them too.
  for (const s of spans) if (!seen.has(s.span_id)) walk(s, 0);
  return out;
}

// durPlacement puts a bar's label after it, before it, or inside it, where
// it fits.
function durPlacement(left, width) {
  if (left + width <= 78) return {left: (left + width) + '%'};
  if (left >= 22) return {right: (100 - left) + '%', 'margin-right': '0.35rem'};
  return {left: left + '%', color: '#fff', 'font-weight': '600'};
}

// fitLabels moves a row's label that durPlacement's guess let run out of
// its track (a long one: duration, tokens and the cached part): beside
// the bar on the side with room, else over the bar's start on a backing
// that keeps it legible. Each label starts again from durPlacement's
// guess, so a resized window refits them all.
function fitLabels(rowsEl) {
  for (const label of rowsEl.querySelectorAll('.wf-dur')) {
    label.removeAttribute('style');
    label.classList.remove('wf-dur-over');
    Object.assign(label.style, JSON.parse(label.dataset.place || '{}'));
  }
  for (const label of rowsEl.querySelectorAll('.wf-dur')) {
    const track = label.parentElement.getBoundingClientRect();
    const r = label.getBoundingClientRect();
    if (track.width === 0 || (r.left >= track.left - 1 && r.right <= track.right + 1)) continue;
    const bar = label.previousElementSibling.getBoundingClientRect();
    const gap = 6;
    label.removeAttribute('style');
    if (track.right - bar.right >= r.width + gap) {
      label.style.left = (bar.right - track.left) + 'px';
    } else if (bar.left - track.left >= r.width + gap) {
      label.style.right = (track.right - bar.left) + 'px';
      label.style.marginRight = '0.35rem';
    } else {
      label.style.left = Math.max(0, Math.min(bar.left - track.left, track.width - r.width - gap)) + 'px';
      label.classList.add('wf-dur-over');
    }
  }
}

function opClass(s) {
  const op = s.operation_name || '';
  if (op === 'invoke_agent' || op === 'create_agent') return 'op-agent';
  if (op === 'execute_tool') return 'op-tool';
  if (op === 'chat' || op === 'generate_content' || op === 'text_completion') return 'op-llm';
  if (op) return 'op-other';
  return 'op-none';
}

function usageOf(s) {
  if (s.input_tokens === null && s.output_tokens === null && s.cache_read_input_tokens === null &&
    s.cache_creation_input_tokens === null && s.reasoning_tokens === null) return null;
  return {
    input_tokens: s.input_tokens || 0, output_tokens: s.output_tokens || 0,
    cache_read_input_tokens: s.cache_read_input_tokens || 0, cache_creation_input_tokens: s.cache_creation_input_tokens || 0,
    reasoning_tokens: s.reasoning_tokens || 0,
  };
}

// wfTokens is a waterfall row's token figure: input (cache included) and
// output, and how much of the input was a cache read.
function wfTokens(u) {
  const c = cacheSplit(u);
  return fmtTokens(c.input + u.output_tokens) + ' tok' + (c.read ? `, ${fmtTokens(c.read)} cached` : '');
}

function kv(rows) {
  const filtered = rows.filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0));
  if (filtered.length === 0) return null;
  return h('dl', {class: 'kv'}, filtered.map(([k, v]) => [h('dt', null, k), h('dd', null, v instanceof Node ? v : String(v))]));
}

function section(title, ...content) {
  const body = content.filter(Boolean);
  if (body.length === 0) return null;
  return h('section', {class: 'attr-section'}, h('h3', null, title), ...body);
}

function partText(p) {
  switch (p.type) {
    case 'text':
    case 'reasoning':
      return p.content || '';
    case 'tool_call':
      return `${p.name || 'tool'}(${p.arguments ? JSON.stringify(p.arguments) : ''})` + (p.id ? `  [${p.id}]` : '');
    case 'tool_call_response':
      return (p.id ? `[${p.id}] ` : '') + (p.response !== undefined ? (typeof p.response === 'string' ? p.response : JSON.stringify(p.response, null, 2)) : '');
    default:
      return JSON.stringify(p);
  }
}

function messages(list) {
  if (!list || list.length === 0) return null;
  return h('ol', {class: 'attr-messages'}, list.map((m) => h('li', {class: 'attr-message'},
    h('span', {class: 'role'}, m.role || '?'), m.name ? h('span', {class: 'muted'}, ' ' + m.name) : null,
    (m.parts || []).map((p) => h('div', {class: 'part'},
      p.type !== 'text' ? h('span', {class: 'part-type'}, p.type) : null,
      h('pre', {class: 'part-text'}, partText(p)))))));
}

// inputMessages shows what the model saw: the messages its request added,
// expanded, after the conversation so far (weave.input.new_messages_from
// of them), collapsed. A chat span whose history weave-server could not
// resolve (the span it refers to never arrived) says so.
export function inputMessages(s) {
  const list = s.input_messages || [];
  const from = (s.custom_attrs_int || {})['weave.input.new_messages_from'];
  const ref = (s.custom_attrs_string || {})['weave.input.previous_span_id'];
  const out = [];
  if (ref && from === undefined) {
    out.push(h('p', {class: 'muted input-history-missing'}, 'Earlier messages: in span ' + ref + ', not received.'));
  }
  if (from > 0 && from <= list.length) {
    out.push(h('details', {class: 'input-history'},
      h('summary', null, `Conversation so far: ${from} message${from === 1 ? '' : 's'}`), messages(list.slice(0, from))));
    out.push(messages(list.slice(from)));
  } else {
    out.push(messages(list));
  }
  return out;
}

function attrTable(s) {
  const rows = [];
  const add = (map, type) => {
    for (const [k, v] of Object.entries(map || {})) rows.push([k, v, type]);
  };
  add(s.custom_attrs_string, 'string');
  add(s.custom_attrs_int, 'int');
  add(s.custom_attrs_float, 'float');
  add(s.custom_attrs_bool, 'bool');
  if (rows.length === 0) return null;
  rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return h('table', {class: 'attr-table'}, h('tbody', null, rows.map(([k, v, t]) =>
    h('tr', null, h('td', {class: 'mono'}, k), h('td', null, h('span', {class: 'attr-value'}, String(v))), h('td', {class: 'muted'}, t)))));
}

function resourceTable(map) {
  const entries = Object.entries(map || {});
  if (entries.length === 0) return null;
  entries.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return h('table', {class: 'attr-table'}, h('tbody', null, entries.map(([k, v]) =>
    h('tr', null, h('td', {class: 'mono'}, k), h('td', null, h('span', {class: 'attr-value'}, typeof v === 'string' ? v : JSON.stringify(v)))))));
}

function details(s) {
  const u = usageOf(s);
  const running = !s.ended_at;
  const dur = running ? null : (ms(s.ended_at) - ms(s.started_at));
  const conv = s.conversation_id;
  return h('div', {class: 'span-details', dataset: {span: s.span_id}},
    h('div', {class: 'details-head'},
      h('h2', {title: s.display_name ? 'span name: ' + s.span_name : null}, spanLabel(s) || '(unnamed span)'),
      running ? runningBadge() : null,
      s.status_code === 'ERROR' ? h('span', {class: 'badge error'}, 'error') : null,
      h('span', {class: 'spacer'}),
      feedback.widget(refs.span(s.span_id), `span ${spanLabel(s)}`, {compact: true, traceID: s.trace_id})),
    s.status_code === 'ERROR' || s.error_type ? h('div', {class: 'msg-error'}, h('strong', null, 'Error'), ' ', [s.error_type, s.status_message].filter(Boolean).join(': ')) : null,
    kv([
      ['span id', h('span', {class: 'mono'}, s.span_id)],
      ['parent', s.parent_span_id ? h('span', {class: 'mono'}, s.parent_span_id) : '(root)'],
      ['kind', s.span_kind],
      ['status', s.status_code + (s.status_message && s.status_code !== 'ERROR' ? ': ' + s.status_message : '')],
      ['started', fmtTime(s.started_at) + ' (' + fmtClock(s.started_at) + ')'],
      ['ended', running ? 'still running' : fmtTime(s.ended_at) + ' (' + fmtClock(s.ended_at) + ')'],
      ['duration', running ? null : fmtDuration(dur)],
    ]),
    section('GenAI', kv([
      ['operation', s.operation_name],
      ['provider', s.provider_name],
      ['agent', s.agent_name ? h('a', {href: route.link.agent(s.agent_name)}, s.agent_name) : null],
      ['agent id', s.agent_id],
      ['agent version', s.agent_version],
      ['conversation', conv ? h('a', {href: route.link.conversation(conv, {turn: s.trace_id, span: s.span_id})}, conv) : null],
      ['thread', s.thread_id],
      ['request model', s.request_model],
      ['response model', s.response_model],
      ['response id', s.response_id],
      ['finish reasons', (s.finish_reasons || []).join(', ')],
      ['tokens', u ? h('span', {title: usageTitle(u)}, usageTitle(u)) : null],
      ['cache writes', s.cache_creation_1h_input_tokens || s.cache_creation_5m_input_tokens
        ? `${fmtTokens(s.cache_creation_5m_input_tokens || 0)} for 5 min · ${fmtTokens(s.cache_creation_1h_input_tokens || 0)} for 1 h` : null],
      ['cost', s.cost_usd !== null && s.cost_usd !== undefined
        ? h('span', null, cost({cost_usd: s.cost_usd}), ' ', h('span', {class: 'muted'}, s.cost_source === 'reported' ? '(reported by the instrumentation)' : '(list price)'))
        : (u ? cost({unpriced_count: 1}) : null)],
    ])),
    section('Tool', kv([
      ['name', s.tool_name],
      ['type', s.tool_type],
      ['call id', s.tool_call_id],
    ]), s.tool_call_arguments ? h('div', null, h('div', {class: 'label'}, 'arguments'), h('pre', {class: 'code-block'}, prettyJSON(s.tool_call_arguments))) : null,
    s.tool_call_result ? h('div', null, h('div', {class: 'label'}, 'result'), h('pre', {class: 'code-block'}, prettyJSON(s.tool_call_result))) : null),
    section('Compaction', kv([
      ['items before', s.compaction_items_before || null],
      ['items after', s.compaction_items_after || null],
    ]), s.compaction_summary ? h('pre', {class: 'code-block'}, s.compaction_summary) : null),
    section('System instructions', (s.system_instructions || []).length ? h('pre', {class: 'code-block'}, s.system_instructions.join('\n')) : null),
    section('Input messages', ...inputMessages(s)),
    section('Output messages', messages(s.output_messages)),
    section('Attributes', attrTable(s)),
    section('Resource', resourceTable(s.resource_attrs)),
    section('Events', (s.events || []).length ? h('ol', {class: 'attr-events'}, s.events.map((e) => h('li', null,
      h('span', {class: 'mono'}, e.name), ' ', h('span', {class: 'muted'}, fmtClock(e.time)),
      e.attributes ? h('pre', {class: 'code-block'}, JSON.stringify(e.attributes, null, 2)) : null))) : null),
    s.raw_span ? h('details', {class: 'raw-span'}, h('summary', null, 'Raw span (OTLP/JSON as received)'),
      h('pre', {class: 'code-block'}, JSON.stringify(s.raw_span, null, 2))) : null);
}

export function render(main, {segments, params, signal}) {
  const traceID = (segments[1] || '').toLowerCase();
  let selected = (params.get('span') || '').toLowerCase();
  document.title = 'Trace ' + shortID(traceID) + ' · weave';
  main.dataset.navArrows = 'true';
  const head = h('div', {class: 'trace-head'}, loading());
  const rowsEl = h('div', {class: 'waterfall', role: 'tree', 'aria-label': 'Spans of this trace'});
  const detailEl = h('aside', {class: 'trace-detail', 'aria-label': 'Selected span'});
  main.append(h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: route.link.conversations()}, 'Conversations'), ' / trace ', h('span', {class: 'mono'}, traceID)),
    head, h('div', {class: 'trace-body'}, h('div', {class: 'waterfall-scroll'}, rowsEl), detailEl));

  let spans = [];
  let lastJSON = '';
  const collapsed = new Set();

  const showDetail = (id) => {
    const s = spans.find((x) => x.span_id === id);
    feedback.disposeWithin(detailEl);
    if (!s) {
      replace(detailEl, h('p', {class: 'muted'}, 'Select a span to see its attributes.'));
      return;
    }
    replace(detailEl, details(s));
    feedback.load([refs.span(s.span_id)], signal);
  };

  const choose = (id, focusRow) => {
    selected = id;
    route.replaceParams({span: id});
    for (const r of rowsEl.querySelectorAll('.wf-row')) r.setAttribute('aria-selected', String(r.dataset.span === id));
    const row = rowsEl.querySelector(`[data-span="${CSS.escape(id)}"]`);
    if (row && focusRow) select(row);
    showDetail(id);
  };

  const renderTree = () => {
    const rows = tree(spans);
    const starts = spans.map((s) => ms(s.started_at)).filter((x) => x !== null);
    const t0 = Math.min(...starts);
    const now = Date.now();
    const t1 = Math.max(...spans.map((s) => (s.ended_at ? ms(s.ended_at) : now)), t0 + 1);
    const total = t1 - t0;
    // Hidden: descendants of collapsed spans.
    const hiddenUnder = [];
    clear(rowsEl);
    const axis = h('div', {class: 'wf-axis', 'aria-hidden': 'true'},
      h('span', {class: 'wf-axis-label'}, 'span'),
      h('div', {class: 'wf-axis-track'}, [0, 0.25, 0.5, 0.75, 1].map((f) =>
        h('span', {class: 'wf-tick', style: {left: (f * 100) + '%'}}, fmtDuration(f * total)))));
    rowsEl.append(axis);
    for (const {span: s, depth, children} of rows) {
      while (hiddenUnder.length && depth <= hiddenUnder[hiddenUnder.length - 1]) hiddenUnder.pop();
      if (hiddenUnder.length) continue;
      const start = ms(s.started_at) ?? t0;
      const end = s.ended_at ? ms(s.ended_at) : now;
      const left = ((start - t0) / total) * 100;
      const width = Math.max(0.4, ((Math.max(end, start) - start) / total) * 100);
      const u = usageOf(s);
      const isCollapsed = collapsed.has(s.span_id);
      const twist = children
        ? h('button', {type: 'button', class: 'wf-twist', 'aria-label': isCollapsed ? 'Expand' : 'Collapse', 'aria-expanded': String(!isCollapsed),
          on: {click: (e) => {
            e.stopPropagation();
            if (collapsed.has(s.span_id)) collapsed.delete(s.span_id);
            else collapsed.add(s.span_id);
            renderTree();
          }}}, isCollapsed ? '▸' : '▾')
        : h('span', {class: 'wf-twist-space'});
      const row = h('div', {class: ['wf-row', opClass(s), s.status_code === 'ERROR' && 'is-error', !s.ended_at && 'is-running'],
        role: 'treeitem', 'aria-level': String(depth + 1), 'aria-selected': String(s.span_id === selected), tabindex: '-1',
        'data-nav-item': true, dataset: {span: s.span_id},
        on: {click: () => choose(s.span_id, true), keydown: (e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            choose(s.span_id, true);
          }
        }}},
      h('div', {class: 'wf-label', style: {'padding-left': (depth * 14) + 'px'}},
        twist,
        h('span', {class: 'wf-op'}, (s.operation_name || 'span').replace('execute_tool', 'tool').replace('invoke_agent', 'agent')),
        h('span', {class: 'wf-name', title: s.span_name}, spanLabel(s) || '(unnamed)'),
        s.status_code === 'ERROR' ? h('span', {class: 'wf-err', title: s.status_message || 'error'}, '✗') : null),
      h('div', {class: 'wf-track'},
        h('div', {class: 'wf-bar', style: {left: left + '%', width: width + '%'}, title: `${fmtDuration(end - start)} · starts at +${fmtDuration(start - t0)}`}),
        h('span', {class: 'wf-dur', style: durPlacement(left, width), dataset: {place: JSON.stringify(durPlacement(left, width))}, title: u ? usageTitle(u) : null},
          s.ended_at ? fmtDuration(end - start) : 'running', u ? ' · ' + wfTokens(u) : '')));
      rowsEl.append(row);
      if (isCollapsed) hiddenUnder.push(depth);
    }
    fitLabels(rowsEl);
  };

  const renderHead = () => {
    const root = tree(spans)[0]?.span;
    const running = spans.some((s) => !s.ended_at);
    const errors = spans.filter((s) => s.status_code === 'ERROR').length;
    const total = {input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, reasoning_tokens: 0};
    // Totals count a span's usage only if no descendant reports usage.
    const hasUsageBelow = new Set();
    const byID = new Map(spans.map((s) => [s.span_id, s]));
    for (const s of spans) {
      if (!usageOf(s)) continue;
      let p = byID.get(s.parent_span_id);
      const guard = new Set();
      while (p && !guard.has(p.span_id)) {
        guard.add(p.span_id);
        hasUsageBelow.add(p.span_id);
        p = byID.get(p.parent_span_id);
      }
    }
    const usd = {cost_usd: 0, unpriced_count: 0};
    for (const s of spans) {
      const u = usageOf(s);
      if (u && !hasUsageBelow.has(s.span_id)) {
        for (const k of Object.keys(total)) total[k] += u[k];
        if (s.cost_usd !== null && s.cost_usd !== undefined) usd.cost_usd += s.cost_usd;
        else usd.unpriced_count++;
      }
    }
    const conv = spans.find((s) => s.conversation_id)?.conversation_id;
    replace(head,
      h('h1', null, root ? spanLabel(root) : 'Trace'),
      h('div', {class: 'conv-stats'},
        running ? runningBadge() : null,
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Spans'), fmtInt(spans.length)),
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Duration'), root && root.ended_at ? fmtDuration(ms(root.ended_at) - ms(root.started_at)) : '—'),
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Tokens'), tokens(total)),
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Cost'), cost(usd)),
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Started'), root ? fmtTime(root.started_at) : '—'),
        errorBadge(errors),
        conv ? h('a', {class: 'button small', href: route.link.conversation(conv, {turn: traceID})}, 'Chat view of this turn') : null,
        feedback.widget(refs.turn(traceID), 'this turn', {compact: true}),
        h('span', {class: 'conv-actions'},
          h('button', {type: 'button', class: 'button small quiet-danger', id: 'trace-delete', on: {click: () => confirmDelete('Delete this turn?',
            `The ${fmtInt(spans.length)} spans of this turn, their search entries and feedback will be deleted.`,
            () => post('/genai/traces/delete', {project_id: route.project(), trace_ids: [traceID]}),
            () => route.go(conv ? route.link.conversation(conv) : route.link.conversations()))}}, 'Delete turn'))));
    feedback.load([refs.turn(traceID)], signal);
  };

  const load = async (first) => {
    let resp;
    try {
      resp = await post('/genai/spans/trace', {project_id: route.project(), trace_id: traceID}, signal);
    } catch (err) {
      if (isAbort(err)) return;
      if (first) replace(head, errorBox(err.status === 404 ? 'Trace not found' : 'Could not load the trace', err));
      return;
    }
    const json = JSON.stringify(resp.spans);
    if (json === lastJSON) return;
    lastJSON = json;
    spans = resp.spans || [];
    const hadFocus = rowsEl.contains(document.activeElement);
    renderHead();
    renderTree();
    if (!selected || !spans.some((s) => s.span_id === selected)) selected = tree(spans)[0]?.span.span_id || '';
    choose(selected, first || hadFocus);
  };

  load(true);
  let wasActive = false;
  const unsubscribe = live.subscribe((st) => {
    if (st.error) return;
    const active = st.spans.some((s) => s.trace_id === traceID);
    if (active || wasActive || spans.some((s) => !s.ended_at)) load(false);
    wasActive = active;
  });
  const unEscape = onEscape(() => {
    if (selected) {
      select(null);
      return false;
    }
    return false;
  });
  // A resized window changes the tracks' widths: refit the labels.
  let fitting = 0;
  const resized = new ResizeObserver(() => {
    cancelAnimationFrame(fitting);
    fitting = requestAnimationFrame(() => fitLabels(rowsEl));
  });
  resized.observe(rowsEl);
  return () => {
    unsubscribe();
    unEscape();
    resized.disconnect();
    cancelAnimationFrame(fitting);
  };
}
