// Conversations: newest first, with filters (agent, time, text) and live
// refresh while turns run.

import {h, replace} from '../dom.js';
import {post, isAbort} from '../api.js';
import * as route from '../route.js';
import * as live from '../live.js';
import {fmtInt, relTime, fmtTime, truncate, shortID, fmtTokens, usageTitle, totalTokens} from '../format.js';
import {loading, empty, errorBox, runningBadge, cost, showError, scoreChips, parseScoreFilter} from '../ui.js';
import {select} from '../keys.js';

const PAGE = 50;

// PLACE_KEYS are the turn-root attributes that say where a session ran
// (weave.claude_code.cwd, weave.claude_code.git_branch).
const PLACE_KEYS = {cwd: 'weave.claude_code.cwd', branch: 'weave.claude_code.git_branch'};

export const RANGES = [
  {id: '', label: 'Any time', ms: 0},
  {id: '1h', label: 'Last hour', ms: 3600e3},
  {id: '24h', label: 'Last 24 hours', ms: 86400e3},
  {id: '7d', label: 'Last 7 days', ms: 7 * 86400e3},
  {id: '30d', label: 'Last 30 days', ms: 30 * 86400e3},
];

const SORTS = {
  last_activity: 'Last activity',
  turn_count: 'Turns',
  input_tokens: 'Tokens',
  cost_usd: 'Cost',
  error_count: 'Errors',
};

// shortPath shows the last two parts of a path ("…/src/weave"): the
// repository or project a session ran in; the whole path is in the title.
export function shortPath(p) {
  const parts = String(p || '').split('/').filter(Boolean);
  return parts.length <= 2 ? p : '…/' + parts.slice(-2).join('/');
}

export function render(main, {params, signal}) {
  document.title = 'Conversations · weave';
  main.dataset.navArrows = 'true';
  const q = params.get('q') || '';
  const agent = params.get('agent') || '';
  const range = params.get('range') || '';
  const cwd = params.get('cwd') || '';
  const branch = params.get('branch') || '';
  const page = Math.max(0, parseInt(params.get('page') || '0', 10) || 0);
  const [sortField, sortDir] = (params.get('sort') || 'last_activity:desc').split(':');
  const score = params.get('score') || '';

  const keep = {q, agent, range, cwd, branch, score};
  const nav = (changes) => route.go(route.link.conversations({...keep, sort: params.get('sort') || '', ...changes}));

  const searchInput = h('input', {type: 'search', class: 'input', id: 'conv-filter', value: q, placeholder: 'Filter by words in messages…',
    'aria-label': 'Filter conversations by words in their messages', 'data-search-primary': true, autocomplete: 'off'});
  const searchForm = h('form', {class: 'filter-search', role: 'search'}, searchInput);
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    nav({q: searchInput.value.trim(), page: ''});
  });
  const agentSelect = h('select', {class: 'input', id: 'conv-agent', 'aria-label': 'Agent'},
    h('option', {value: ''}, 'All agents'),
    agent ? h('option', {value: agent, selected: true}, agent) : null);
  agentSelect.addEventListener('change', () => nav({agent: agentSelect.value, page: ''}));
  const scoreInput = h('input', {type: 'text', class: 'input', id: 'conv-score', value: score, placeholder: 'Score: helpfulness >= 4',
    'aria-label': 'Filter conversations by a score (name, comparison, value; or has / no name)', autocomplete: 'off',
    title: 'A score filter: helpfulness >= 4, correct = yes (all yes), correct >= 0.5 (share of yes), tone = friendly, has helpfulness, no helpfulness'});
  const scoreForm = h('form', {class: 'filter-score'}, scoreInput);
  scoreForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = scoreInput.value.trim();
    if (v && !parseScoreFilter(v)) {
      scoreInput.setCustomValidity('Write a score filter such as: helpfulness >= 4, correct = yes, has helpfulness');
      scoreInput.reportValidity();
      return;
    }
    scoreInput.setCustomValidity('');
    nav({score: v, page: ''});
  });
  const rangeSelect = h('select', {class: 'input', id: 'conv-range', 'aria-label': 'Time range'},
    RANGES.map((r) => h('option', {value: r.id, selected: r.id === range}, r.label)));
  rangeSelect.addEventListener('change', () => nav({range: rangeSelect.value, page: ''}));

  // Where the sessions ran: the working directory and git branch filters
  // (also set by clicking a row's chip). Their options are the values the
  // project's turns carry, most used first; a select stays hidden while the
  // project has none. A directory is shown by its last two parts
  // (shortPath), in full in the title.
  const placeSelect = (id, param, value, all, label, show) => {
    const sel = h('select', {class: 'input place-select', id, 'aria-label': label, hidden: !value, title: value || label},
      h('option', {value: ''}, all),
      value ? h('option', {value, selected: true, title: value}, show(value)) : null);
    sel.addEventListener('change', () => nav({[param]: sel.value, page: ''}));
    return sel;
  };
  const cwdSelect = placeSelect('conv-cwd', 'cwd', cwd, 'All directories', 'Working directory', shortPath);
  const branchSelect = placeSelect('conv-branch', 'branch', branch, 'All branches', 'Git branch', String);
  const summary = h('p', {class: 'list-summary muted', 'aria-live': 'polite'});
  const body = h('div', {class: 'list-body'}, loading());
  main.append(
    h('div', {class: 'page-head'},
      h('h1', null, 'Conversations'),
      h('div', {class: 'filters'}, searchForm, agentSelect, cwdSelect, branchSelect, rangeSelect, scoreForm)),
    summary,
    body);

  // Agents for the filter.
  post('/genai/agents/query', {project_id: route.project(), limit: 500, sort: [{field: 'agent_name', direction: 'asc'}]}, signal)
    .then((resp) => {
      const names = (resp.agents || []).map((a) => a.agent_name).filter(Boolean);
      if (agent && !names.includes(agent)) names.unshift(agent);
      replace(agentSelect, h('option', {value: ''}, 'All agents'),
        names.map((n) => h('option', {value: n, selected: n === agent}, n)));
    })
    .catch((err) => {
      if (!isAbort(err)) showError('Could not list agents', err);
    });

  // Working directories and branches for the filters: those of the turn
  // roots (weave-agentd records them there), grouped, most turns first.
  for (const [sel, key, value, show] of [[cwdSelect, PLACE_KEYS.cwd, cwd, shortPath], [branchSelect, PLACE_KEYS.branch, branch, String]]) {
    const field = 'custom_attrs_string.' + key;
    post('/genai/spans/aggregate', {project_id: route.project(), group_by: [field], filters: [{field, op: 'exists'}],
      sort: [{field: 'count', direction: 'desc'}], limit: 200}, signal)
      .then((resp) => {
        const values = (resp.groups || []).map((g) => g.key[field]).filter(Boolean);
        if (value && !values.includes(value)) values.unshift(value);
        replace(sel, sel.firstChild, values.map((v) => h('option', {value: v, selected: v === value, title: v}, show(v))));
        sel.hidden = values.length === 0;
      })
      .catch((err) => {
        if (!isAbort(err)) showError('Could not list where conversations ran', err);
      });
  }

  const request = () => {
    const body = {
      project_id: route.project(),
      limit: PAGE,
      offset: page * PAGE,
      sort: [{field: SORTS[sortField] ? sortField : 'last_activity', direction: sortDir === 'asc' ? 'asc' : 'desc'}],
    };
    if (q) body.search = q;
    if (q && exactTotal) body.exact_total = true;
    if (agent) body.agent_name = agent;
    if (cwd) body.working_dir = cwd;
    if (branch) body.git_branch = branch;
    const sf = parseScoreFilter(score);
    if (sf) body.filters = [sf];
    const r = RANGES.find((x) => x.id === range);
    if (r && r.ms) body.from = new Date(Date.now() - r.ms).toISOString();
    return body;
  };

  // With a search the server may count only the matches it met (the total
  // then comes with total_is_lower_bound and shows as "N+"); "count all"
  // asks for the exact total from then on, live reloads included.
  let exactTotal = false;
  let lastSig = null;
  let lastLoad = 0;
  let loadCtrl = null;
  const load = async () => {
    if (loadCtrl) loadCtrl.abort();
    const ctrl = new AbortController();
    loadCtrl = ctrl;
    signal.addEventListener('abort', () => ctrl.abort(), {once: true});
    lastLoad = Date.now();
    let resp;
    try {
      resp = await post('/genai/conversations/query', request(), ctrl.signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(body, errorBox('Could not load conversations', err));
      return;
    }
    renderList(resp);
  };

  const header = (field, label, cls) => {
    const active = sortField === field;
    const dir = active && sortDir !== 'asc' ? 'asc' : 'desc';
    return h('th', {class: cls, 'aria-sort': active ? (sortDir === 'asc' ? 'ascending' : 'descending') : null},
      h('a', {href: route.link.conversations({...keep, sort: `${field}:${dir}`}), class: 'sort-link'},
        label, active ? (sortDir === 'asc' ? ' ▲' : ' ▼') : ''));
  };

  const renderList = (resp) => {
    const convs = resp.conversations || [];
    const selectedID = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-conversation]')?.dataset.conversation;
    const from = resp.total === 0 ? 0 : resp.offset + 1;
    const atLeast = resp.total_is_lower_bound === true;
    replace(summary, resp.total === 0 ? '' :
      `${fmtInt(from)}–${fmtInt(resp.offset + convs.length)} of ${fmtInt(resp.total)}${atLeast ? '+' : ''} conversation${resp.total === 1 && !atLeast ? '' : 's'} in ${route.project()}`,
      atLeast ? ' ' : null,
      atLeast ? h('button', {type: 'button', class: 'button small', id: 'conv-count-all',
        title: 'The server stopped counting once it had this page; count every conversation that matches (slower on a large project)',
        on: {click: () => { exactTotal = true; load(); }}}, 'Count all') : null);
    if (convs.length === 0) {
      const filtered = q || agent || range || cwd || branch;
      replace(body, filtered
        ? empty('No conversation matches these filters.', h('a', {href: route.link.conversations()}, 'Clear the filters'))
        : empty(`No conversations in project ${route.project()} yet.`,
          h('p', null, 'Run Claude Code with weave installed (', h('code', null, 'make run'), '), import past sessions with ',
            h('code', null, 'weave-agentd import'), ', or point any OpenTelemetry GenAI instrumentation at this server (',
            h('code', null, 'OTEL_EXPORTER_OTLP_ENDPOINT=' + location.origin), ').')));
      return;
    }
    const rows = convs.map((c) => {
      const running = c.running_count > 0;
      const href = route.link.conversation(c.conversation_id);
      return h('tr', {class: ['conv-row', running && 'is-running', c.error_count > 0 && 'has-errors'], 'data-nav-item': true,
        dataset: {conversation: c.conversation_id}, tabindex: '-1'},
      h('td', {class: 'col-prompt'},
        h('a', {href, class: 'conv-link', 'data-nav-open': true}, c.first_prompt ? truncate(c.first_prompt, 160) : h('span', {class: 'muted'}, '(no prompt recorded)')),
        h('div', {class: 'conv-meta'},
          running ? runningBadge() : null,
          (c.agent_names || []).map((a) => h('span', {class: 'chip agent-chip'}, a)),
          c.working_dir ? h('a', {class: 'chip place-chip cwd-chip', href: route.link.conversations({...keep, cwd: c.working_dir, page: ''}),
            title: `Working directory ${c.working_dir} (its latest turn). Click: only conversations there.`}, shortPath(c.working_dir)) : null,
          c.git_branch ? h('a', {class: 'chip place-chip branch-chip', href: route.link.conversations({...keep, branch: c.git_branch, page: ''}),
            title: `Git branch ${c.git_branch} (its latest turn). Click: only conversations on it.`}, '⎇ ', c.git_branch) : null,
          scoreChips(c.scores),
          h('span', {class: 'muted mono', title: c.conversation_id}, shortID(c.conversation_id, 13)))),
      h('td', {class: 'num', title: c.background_count ? `${fmtInt(c.background_count)} background traces (not turns)` : null},
        fmtInt(c.turn_count), c.background_count ? h('span', {class: 'muted'}, ` +${fmtInt(c.background_count)} bg`) : null),
      h('td', {class: 'num tokens-cell', title: usageTitle(c)}, fmtTokens(totalTokens(c)),
        c.cache_read_input_tokens ? h('div', {class: 'muted cache-note'}, `${fmtTokens(c.cache_read_input_tokens)} cached`) : null),
      h('td', {class: 'num'}, cost(c)),
      h('td', {class: ['num', c.error_count > 0 && 'error-text']}, c.error_count > 0 ? fmtInt(c.error_count) : h('span', {class: 'muted'}, '0')),
      h('td', {class: 'when', title: fmtTime(c.last_activity)}, relTime(c.last_activity)));
    });
    const pager = h('div', {class: 'pager'},
      page > 0 ? h('a', {class: 'button', href: route.link.conversations({...keep, sort: params.get('sort') || '', page: page - 1 || ''})}, '← Newer') : null,
      resp.offset + convs.length < resp.total ? h('a', {class: 'button', href: route.link.conversations({...keep, sort: params.get('sort') || '', page: page + 1})}, 'Older →') : null);
    replace(body,
      h('table', {class: 'table conv-table'},
        h('thead', null, h('tr', null,
          h('th', {class: 'col-prompt'}, 'First prompt'),
          header('turn_count', 'Turns', 'num'),
          header('input_tokens', 'Tokens', 'num'),
          header('cost_usd', 'Cost', 'num'),
          header('error_count', 'Errors', 'num'),
          header('last_activity', 'Last activity', 'when'))),
        h('tbody', null, rows)),
      pager);
    if (selectedID) {
      const row = [...body.querySelectorAll('[data-conversation]')].find((r) => r.dataset.conversation === selectedID);
      if (row) select(row);
    }
  };

  load();
  const unsubscribe = live.subscribe((st) => {
    if (st.error) return;
    const sig = live.signature(st.spans);
    const changed = lastSig !== null && sig !== lastSig;
    const runningRefresh = st.spans.length > 0 && Date.now() - lastLoad > 10_000;
    lastSig = sig;
    if (changed || runningRefresh) load();
  });
  return () => {
    unsubscribe();
    if (loadCtrl) loadCtrl.abort();
  };
}
