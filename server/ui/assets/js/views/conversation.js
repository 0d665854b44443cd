// One conversation: its turns in order, each as its chat view, with live
// updates while a turn runs.

import {h, replace, onVisible} from '../dom.js';
import {post, download, isAbort, refs} from '../api.js';
import * as route from '../route.js';
import * as live from '../live.js';
import * as feedback from '../feedback.js';
import {fmtTime, fmtDuration, fmtInt, fmtTokens, shortID, truncate, oneLine} from '../format.js';
import {loading, errorBox, runningBadge, errorBadge, tokens, cost, showError, activeRange, hasUsage, confirmDelete} from '../ui.js';
import {renderMessages, highlightTerms, queryTerms} from '../chat.js';
import {select, onEscape} from '../keys.js';

const PAGE = 20;

// turnKey identifies a turn in the page: its trace, or, where several turn
// spans (wandb.is_turn) share a trace, its turn span.
export const turnKey = (t) => (t.shared_trace ? t.trace_id + '/' + t.turn_span_id : t.trace_id);

// turnRef is the annotation ref of a turn: the trace's, or the turn span's
// where the trace holds several turns.
const turnRef = (t) => (t.shared_trace ? refs.span(t.turn_span_id) : refs.turn(t.trace_id));

export function render(main, {segments, params, signal}) {
  const convID = segments[1];
  const focusTurn = (params.get('turn') || '').toLowerCase();
  const focusSpan = (params.get('span') || '').toLowerCase();
  const query = params.get('q') || '';
  document.title = 'Conversation · weave';

  const state = {
    conv: null, // the first answer (summary fields)
    turns: [], // loaded turns, in order
    total: 0,
    sections: new Map(), // turn key → section element
    loadingMore: false,
  };

  const head = h('div', {class: 'conv-head'}, loading());
  const turnsEl = h('div', {class: 'turns'});
  const moreEl = h('div', {class: 'more'});
  const backgroundEl = h('div', {class: 'background'});
  main.append(h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: route.link.conversations()}, 'Conversations'), ' / ', shortID(convID, 24)),
    head, turnsEl, moreEl, backgroundEl);

  const fetchTurns = (offset, limit, sig = signal) =>
    post('/genai/conversations/chat', {project_id: route.project(), conversation_id: convID, offset, limit}, sig);

  const renderHead = () => {
    const c = state.conv;
    const first = state.turns[0];
    const firstPrompt = first && (first.messages || []).find((m) => m.type === 'user_message');
    const title = firstPrompt && firstPrompt.text ? truncate(oneLine(firstPrompt.text), 200) : convID;
    document.title = truncate(title, 60) + ' · weave';
    const agents = new Set();
    for (const t of state.turns) for (const m of t.messages || []) if (m.type === 'agent_start' && m.agent_name) agents.add(m.agent_name);
    const running = state.turns.some((t) => t.running) || c.running;
    const errors = state.turns.reduce((n, t) => n + (t.error_count || 0), 0);
    const sessions = c.sessions || [];
    // Where the turns ran (working directories and branches, in order).
    const dirs = [...new Set(state.turns.map((t) => t.working_dir).filter(Boolean))];
    const branches = [...new Set(state.turns.map((t) => t.git_branch).filter(Boolean))];
    replace(head,
      h('h1', {class: 'conv-title'}, title),
      h('div', {class: 'conv-stats'},
        running ? runningBadge() : null,
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Turns'), fmtInt(c.turn_count)),
        c.background_count ? h('span', {class: 'stat', title: 'traces of this thread that are not turns (no wandb.is_turn span)'},
          h('span', {class: 'label'}, 'Background'), fmtInt(c.background_count)) : null,
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Tokens'), tokens(c.usage)),
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Cost'), cost(c.usage)),
        errors ? h('span', {class: 'stat'}, errorBadge(errors)) : null,
        h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Active'), activeRange(c.first_activity, c.last_activity)),
        agents.size ? h('span', {class: 'stat'}, h('span', {class: 'label'}, 'Agents'), [...agents].map((a) => h('a', {class: 'chip agent-chip', href: route.link.agent(a)}, a))) : null,
        dirs.length || branches.length ? h('span', {class: 'stat where'}, h('span', {class: 'label'}, 'Where'),
          dirs.map((d) => h('a', {class: 'chip place-chip cwd-chip', title: `Working directory ${d}: the conversations there`, href: route.link.conversations({cwd: d})}, d)),
          branches.map((b) => h('a', {class: 'chip place-chip branch-chip', title: `Git branch ${b}: the conversations on it`, href: route.link.conversations({branch: b})}, '⎇ ', b))) : null),
      h('div', {class: 'conv-sub'},
        h('span', {class: 'muted mono', title: 'conversation id'}, convID),
        sessions.length > 1 || sessions.some((s) => s.parent_session_id)
          ? h('span', {class: 'sessions'}, `${sessions.length} sessions: `,
            sessions.map((s, i) => [i ? ', ' : '', h('span', {class: 'session-chip', title: s.session_id}, shortID(s.session_id, 8)),
              s.parent_session_id ? h('span', {class: 'muted'}, ` (fork of ${shortID(s.parent_session_id, 8)})`) : '',
              h('span', {class: 'muted'}, ` from turn ${s.first_turn_index + 1}`)]))
          : null,
        feedback.widget(refs.conversation(convID), 'this conversation'),
        h('span', {class: 'conv-actions'},
          exportMenu(),
          h('button', {type: 'button', class: 'button small quiet-danger', id: 'conv-delete', on: {click: () => confirmDelete('Delete this conversation?',
            `All ${fmtInt(c.turn_count)} turn${c.turn_count === 1 ? '' : 's'} of this conversation, their spans, search entries and feedback will be deleted.`,
            () => post('/genai/conversations/delete', {project_id: route.project(), conversation_ids: [convID]}),
            () => route.go(route.link.conversations()))}}, 'Delete'))));
  };

  // exportMenu downloads the conversation: as an ATIF trajectory (steps,
  // tool calls, subagents), as span rows, or as OTLP to send elsewhere.
  const exportMenu = () => {
    const file = convID.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'conversation';
    const item = (format, label, name, title) => h('button', {type: 'button', class: 'menu-item', dataset: {format}, title, on: {click: async (ev) => {
      ev.currentTarget.closest('details').open = false;
      try {
        await download('/genai/export', {project_id: route.project(), format, conversation_ids: [convID]}, name);
      } catch (err) {
        showError('Export', err);
      }
    }}}, label);
    return h('details', {class: 'menu', id: 'conv-export'},
      h('summary', {class: 'button small', title: 'Download this conversation'}, 'Export'),
      h('div', {class: 'menu-items', role: 'menu'},
        item('atif', 'ATIF trajectory', file + '.atif.json', 'Agent Trajectory Interchange Format: steps, tool calls and results, subagents, tokens and cost'),
        item('jsonl', 'Span rows (JSONL)', file + '.spans.jsonl', 'one span row per line, as the read API gives them'),
        item('otlp', 'OTLP/JSON', file + '.otlp.jsonl', 'OTLP ExportTraceServiceRequest lines, for any OTLP/HTTP receiver')));
  };

  // sessionDivider marks where a turn runs in another session than the one
  // before it (a resume into a new session or a fork).
  const sessionDivider = (turn, prev) => {
    if (!turn.session_id || (prev && prev.session_id === turn.session_id)) return null;
    if (!prev && !turn.parent_session_id && turn.session_id === convID) return null;
    return h('div', {class: 'session-divider', role: 'separator'},
      h('span', null, turn.parent_session_id ? 'Forked session ' : 'Session '),
      h('span', {class: 'mono', title: turn.session_id}, shortID(turn.session_id, 13)),
      turn.parent_session_id ? [' from ', h('span', {class: 'mono', title: turn.parent_session_id}, shortID(turn.parent_session_id, 13))] : null);
  };

  // usageItems shows a turn's tokens and cost, or, for a turn without a
  // model call that reports usage, what is known instead: a compaction's
  // size (Claude Code records no usage for the call that summarizes), or
  // that there is none — never a pair of blanks.
  const usageItems = (turn) => {
    if (hasUsage(turn.usage) || turn.running) return [h('span', {class: 'meta-item'}, tokens(turn.usage)), h('span', {class: 'meta-item'}, cost(turn.usage))];
    const c = (turn.messages || []).find((m) => m.type === 'context_compacted' && m.compaction_pre_tokens);
    if (c) {
      return h('span', {class: 'meta-item compaction-tokens', title: 'The compaction call\'s own usage is not recorded (Claude Code writes none to the transcript); this is the size of the context it summarized, so its cost is not estimated.'},
        `${fmtTokens(c.compaction_pre_tokens)} tokens compacted`);
    }
    return h('span', {class: 'meta-item muted', title: 'no span of this turn reported token usage'}, 'no usage reported');
  };

  const turnSection = (turn) => {
    const prompt = (turn.messages || []).find((m) => m.type === 'user_message');
    const key = turnKey(turn);
    const anchor = route.link.conversation(convID, {turn: key});
    const sec = h('section', {class: ['turn', turn.running && 'is-running', turn.error_count > 0 && 'has-errors'],
      id: 'turn-' + key, 'data-nav-item': true, tabindex: '-1', dataset: {trace: turn.trace_id, turnSpan: turn.turn_span_id || '', index: turn.index},
      'aria-label': `Turn ${turn.index + 1}`},
    h('header', {class: 'turn-head'},
      h('h2', null, h('a', {href: anchor, class: 'turn-anchor', title: 'Link to this turn'}, `Turn ${turn.index + 1}`)),
      turn.turn_span_id ? h('span', {class: 'chip turn-span', title: 'the span marked wandb.is_turn'}, turn.root_span_name) : null,
      h('span', {class: 'muted', title: fmtTime(turn.started_at)}, fmtTime(turn.started_at)),
      turn.running ? runningBadge('running', turn.started_at) : h('span', {class: 'meta-item', title: 'wall-clock duration of the turn'}, fmtDuration(turn.total_duration_ms)),
      usageItems(turn),
      errorBadge(turn.error_count),
      turn.session_id && turn.session_id !== convID ? h('span', {class: 'chip session-chip', title: 'session ' + turn.session_id + (turn.parent_session_id ? ', forked from ' + turn.parent_session_id : '')},
        'session ', shortID(turn.session_id, 8), turn.parent_session_id ? ', fork of ' + shortID(turn.parent_session_id, 8) : '') : null,
      h('span', {class: 'spacer'}),
      h('a', {href: route.link.trace(turn.trace_id), class: 'button small', 'data-nav-open': true, title: 'Span tree and waterfall of this turn'}, 'Trace'),
      feedback.widget(turnRef(turn), `turn ${turn.index + 1}`, {compact: true})),
    prompt ? null : h('p', {class: 'muted'}, 'No user prompt recorded for this turn.'),
    renderMessages(turn),
    turn.running ? h('div', {class: 'working', role: 'status'}, h('span', {class: 'spinner small', 'aria-hidden': 'true'}), 'Working… new messages appear here as they arrive.') : null);
    return sec;
  };

  const annotationRefs = (turns) => {
    const out = [];
    for (const t of turns) {
      out.push(turnRef(t));
      for (const m of t.messages || []) {
        if (m.type === 'assistant_message' || m.type === 'tool_call' || (m.type === 'agent_start' && m.depth > 0)) out.push(refs.span(m.span_id));
      }
    }
    return out;
  };

  const appendTurns = (turns) => {
    const frag = document.createDocumentFragment();
    for (const t of turns) {
      const prev = state.turns[state.turns.length - 1];
      const div = sessionDivider(t, prev);
      if (div) frag.append(div);
      const sec = turnSection(t);
      state.sections.set(turnKey(t), sec);
      state.turns.push(t);
      frag.append(sec);
    }
    turnsEl.append(frag);
    feedback.load(annotationRefs(turns), signal);
  };

  const replaceTurn = (turn) => {
    const i = state.turns.findIndex((t) => turnKey(t) === turnKey(turn));
    if (i < 0) return;
    turn.index = state.turns[i].index;
    const old = state.sections.get(turnKey(turn));
    // Keep expanded tool calls expanded across the refresh.
    const open = new Set([...old.querySelectorAll('.tool.open')].map((e) => e.dataset.span));
    const hadFocus = old.contains(document.activeElement);
    state.turns[i] = turn;
    const sec = turnSection(turn);
    for (const el of sec.querySelectorAll('.tool')) if (open.has(el.dataset.span)) el.setOpen(true);
    feedback.disposeWithin(old);
    old.replaceWith(sec);
    state.sections.set(turnKey(turn), sec);
    if (old.classList.contains('nav-selected')) select(sec, {focus: hadFocus});
    feedback.load(annotationRefs([turn]), signal);
  };

  const renderMore = () => {
    const left = state.total - state.turns.length;
    if (left <= 0) {
      replace(moreEl);
      return;
    }
    const btn = h('button', {type: 'button', class: 'button'}, `Load ${Math.min(left, PAGE)} more turns (${fmtInt(left)} not shown)`);
    btn.addEventListener('click', () => loadMore());
    replace(moreEl, btn);
    onVisible(btn, () => loadMore());
  };

  const loadMore = async () => {
    if (state.loadingMore || state.turns.length >= state.total) return;
    state.loadingMore = true;
    try {
      const resp = await fetchTurns(state.turns.length, PAGE);
      state.total = resp.turn_count;
      state.conv = {...state.conv, ...summaryOf(resp)};
      appendTurns(resp.turns || []);
      renderHead();
    } catch (err) {
      if (!isAbort(err)) showError('Could not load more turns', err);
    } finally {
      state.loadingMore = false;
    }
    renderMore();
  };

  const summaryOf = (resp) => ({
    turn_count: resp.turn_count, background_count: resp.background_count, first_activity: resp.first_activity,
    last_activity: resp.last_activity, running: resp.running, usage: resp.usage, sessions: resp.sessions,
  });

  // Background activity: the traces of a thread that are not turns, one
  // line each, linking to their trace.
  const renderBackground = (list) => {
    if (!list || !list.length) {
      replace(backgroundEl);
      return;
    }
    replace(backgroundEl, h('section', {class: 'background-activity', 'aria-label': 'Background activity'},
      h('h2', null, 'Background activity'),
      h('p', {class: 'muted'}, 'Traces of this thread outside its turns (no span marked wandb.is_turn); not counted as turns.'),
      h('ul', {class: 'background-list'}, list.map((b) => h('li', {class: 'background-item', dataset: {trace: b.trace_id}},
        h('a', {href: route.link.trace(b.trace_id), class: 'mono'}, b.root_span_name || shortID(b.trace_id, 12)),
        h('span', {class: 'muted', title: fmtTime(b.started_at)}, fmtTime(b.started_at)),
        b.running ? runningBadge('running', b.started_at) : h('span', {class: 'meta-item'}, fmtDuration(b.total_duration_ms)),
        h('span', {class: 'meta-item'}, `${fmtInt(b.span_count)} ${b.span_count === 1 ? 'span' : 'spans'}`),
        errorBadge(b.error_count))))));
  };

  // findSection finds a turn by its key, or by its trace (a search hit
  // links to the trace; where the trace holds several turns, the first).
  const findSection = (key) => {
    if (state.sections.has(key)) return state.sections.get(key);
    const t = state.turns.find((x) => x.trace_id === key);
    return t ? state.sections.get(turnKey(t)) : null;
  };

  const focus = () => {
    if (!focusTurn) return;
    const sec = findSection(focusTurn);
    if (!sec) return;
    select(sec, {block: 'start'});
    sec.classList.add('focused');
    let target = null;
    if (focusSpan) {
      target = sec.querySelector(`[data-span="${CSS.escape(focusSpan)}"]`);
      if (target) {
        if (target.setOpen) target.setOpen(true);
        target.classList.add('focused-item');
        target.scrollIntoView({block: 'center'});
      }
    }
    if (query) {
      // Open the tool calls whose arguments or result hold every word.
      const terms = queryTerms(query).map((t) => t.toLowerCase());
      for (const tool of sec.querySelectorAll('.tool')) {
        const text = (tool.searchText || '').toLowerCase();
        if (terms.length && terms.every((t) => text.includes(t))) tool.setOpen(true);
      }
      highlightTerms(sec, query);
    }
  };

  const initial = async () => {
    let resp;
    try {
      resp = await fetchTurns(0, PAGE);
    } catch (err) {
      if (isAbort(err)) return;
      replace(head, errorBox(err.status === 404 ? 'Conversation not found' : 'Could not load the conversation', err));
      return;
    }
    state.conv = summaryOf(resp);
    state.total = resp.turn_count;
    appendTurns(resp.turns || []);
    renderBackground(resp.background);
    // A deep link to a later turn loads pages until it is there.
    while (focusTurn && !findSection(focusTurn) && state.turns.length < state.total) {
      try {
        const more = await fetchTurns(state.turns.length, PAGE);
        state.total = more.turn_count;
        appendTurns(more.turns || []);
      } catch (err) {
        if (!isAbort(err)) showError('Could not load the linked turn', err);
        break;
      }
    }
    renderHead();
    renderMore();
    feedback.load([refs.conversation(convID)], signal);
    if (focusTurn && !findSection(focusTurn)) showError('Turn not found', new Error(`turn ${focusTurn} is not part of this conversation`));
    focus();
    startLive();
  };

  // Live: refresh running turns from their trace's chat view, pick up new
  // turns, and do a last refresh of a turn that just finished.
  let unsubscribe = () => {};
  let watched = new Set(); // trace ids that were running at the last poll
  let busy = false;
  const startLive = () => {
    unsubscribe = live.subscribe(async (st) => {
      if (st.error || busy || !state.conv) return;
      const active = new Set();
      let newTurn = false;
      for (const s of st.spans) {
        const loaded = state.turns.some((t) => t.trace_id === s.trace_id);
        if (loaded) active.add(s.trace_id);
        else if (s.conversation_id === convID || (!s.conversation_id && s.thread_id === convID)) newTurn = true;
      }
      const finished = [...watched].filter((t) => !active.has(t));
      const stillFlagged = state.turns.filter((t) => t.running && !active.has(t.trace_id)).map((t) => t.trace_id);
      const toRefresh = new Set([...active, ...finished, ...stillFlagged]);
      watched = active;
      if (toRefresh.size === 0 && !newTurn) return;
      busy = true;
      try {
        for (const tid of toRefresh) {
          const old = state.turns.find((x) => x.trace_id === tid);
          // A turn that is part of its trace is refreshed with the
          // conversation below, not from the whole trace's chat view.
          if (!old || old.shared_trace) continue;
          const t = await post('/genai/traces/chat', {project_id: route.project(), trace_id: tid}, signal);
          const fresh = {...t, index: old.index, turn_span_id: old.turn_span_id};
          if (!fresh.turn_span_id) delete fresh.turn_span_id;
          if (JSON.stringify(old) !== JSON.stringify(fresh)) replaceTurn(fresh);
        }
        if (newTurn || finished.length || stillFlagged.length) {
          // New turns (and the conversation's totals) from the end of what is loaded.
          const allLoaded = state.turns.length >= state.total;
          const resp = await fetchTurns(allLoaded ? state.turns.length : 0, allLoaded ? 0 : 1);
          state.conv = {...state.conv, ...summaryOf(resp)};
          state.total = resp.turn_count;
          if (allLoaded) appendTurns((resp.turns || []).filter((t) => !state.sections.has(turnKey(t))));
          if (allLoaded) renderBackground(resp.background);
          renderMore();
        }
        renderHead();
      } catch (err) {
        if (!isAbort(err)) showError('Live update failed', err);
      } finally {
        busy = false;
      }
    });
  };

  const unEscape = onEscape(() => {
    const open = [...main.querySelectorAll('.tool.open')];
    const a = document.activeElement;
    const mine = open.find((t) => t.contains(a)) || (open.length === 1 ? open[0] : null);
    if (mine) {
      mine.setOpen(false);
      mine.querySelector('.tool-toggle').focus();
      return true;
    }
    return false;
  });

  initial();
  return () => {
    unsubscribe();
    unEscape();
  };
}
