// Message search: full-text hits with highlighted snippets, each linking to
// the exact turn (and span) it came from.

import {h, replace} from '../dom.js';
import {post, isAbort} from '../api.js';
import * as route from '../route.js';
import {relTime, fmtTime, shortID} from '../format.js';
import {loading, empty, errorBox, showError} from '../ui.js';

const PAGE = 50;
const ROLES = [
  {id: 'user', label: 'User'},
  {id: 'assistant', label: 'Assistant'},
  {id: 'tool_call', label: 'Tool arguments'},
  {id: 'tool_result', label: 'Tool results'},
  {id: 'system', label: 'System'},
];

export function render(main, {params, signal}) {
  const q = params.get('q') || '';
  const roles = (params.get('role') || '').split(',').filter((r) => ROLES.some((x) => x.id === r));
  const agent = params.get('agent') || '';
  document.title = (q ? q + ' · ' : '') + 'Search · weave';
  main.dataset.navArrows = 'true';
  document.getElementById('global-search-input').value = q;

  const input = h('input', {type: 'search', class: 'input grow', value: q, id: 'search-input', placeholder: 'Words or "a phrase" in prompts, answers, tool arguments and results',
    'aria-label': 'Search messages', 'data-search-primary': true, autocomplete: 'off'});
  const form = h('form', {class: 'search-form', role: 'search'}, input, h('button', {type: 'submit', class: 'button primary'}, 'Search'));
  const nav = (changes) => route.go(route.link.search({q, role: roles.join(','), agent, ...changes}));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    nav({q: input.value.trim()});
  });
  const chips = h('div', {class: 'role-chips', role: 'group', 'aria-label': 'Only these kinds of message'},
    ROLES.map((r) => {
      const on = roles.includes(r.id);
      return h('button', {type: 'button', class: ['chip-toggle', on && 'on'], 'aria-pressed': String(on),
        on: {click: () => nav({role: (on ? roles.filter((x) => x !== r.id) : [...roles, r.id]).join(',')})}}, r.label);
    }),
    agent ? h('button', {type: 'button', class: 'chip-toggle on', 'aria-pressed': 'true', title: 'Remove the agent filter',
      on: {click: () => nav({agent: ''})}}, 'agent: ' + agent, ' ×') : null);
  const results = h('div', {class: 'search-results', 'aria-live': 'polite'});
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Search')), form, chips, results);
  if (!q) {
    replace(results, empty('Search every prompt, answer, tool argument and tool result of this project.',
      h('p', {class: 'muted'}, 'All words must occur in one message, in any order; "quoted words" must be consecutive. Case and accents are ignored.')));
    input.focus();
    return null;
  }

  let offset = 0;
  const list = h('ol', {class: 'hits'});
  const more = h('div', {class: 'pager'});
  replace(results, loading('Searching…'));

  const hitItem = (hit) => {
    const href = route.link.conversation(hit.conversation_id, {turn: hit.trace_id, span: hit.span_id, q});
    const snippet = h('p', {class: 'snippet'}, (hit.snippet_parts || [{text: hit.snippet}]).map((p) => (p.match ? h('mark', null, p.text) : p.text)));
    return h('li', {class: 'hit', 'data-nav-item': true, tabindex: '-1',
      dataset: {conversation: hit.conversation_id, span: hit.span_id, role: hit.role, operation: hit.operation_name}},
      h('div', {class: 'hit-head'},
        h('span', {class: 'badge role role-' + hit.role}, hit.role.replace('_', ' ')),
        hit.agent_name ? h('span', {class: 'chip agent-chip'}, hit.agent_name) : null,
        hit.operation_name ? h('span', {class: 'muted'}, hit.operation_name) : null,
        h('span', {class: 'spacer'}),
        h('span', {class: 'muted', title: fmtTime(hit.started_at)}, relTime(hit.started_at))),
      h('a', {href, class: 'hit-link', 'data-nav-open': true}, snippet),
      h('div', {class: 'hit-foot muted'}, 'conversation ', h('span', {class: 'mono', title: hit.conversation_id}, shortID(hit.conversation_id, 13)),
        ' · ', h('a', {href: route.link.trace(hit.trace_id, {span: hit.span_id}), class: 'muted'}, 'trace ' + shortID(hit.trace_id))));
  };

  const load = async () => {
    const body = {project_id: route.project(), query: q, limit: PAGE, offset};
    if (roles.length) body.roles = roles;
    if (agent) body.agent_name = agent;
    let resp;
    try {
      resp = await post('/genai/messages/search', body, signal);
    } catch (err) {
      if (isAbort(err)) return;
      if (offset === 0) replace(results, errorBox('Search failed', err));
      else showError('Could not load more hits', err);
      return;
    }
    const hits = resp.hits || [];
    if (offset === 0 && hits.length === 0) {
      replace(results, empty(`Nothing matches “${q}”${roles.length ? ' in these kinds of message' : ''}.`));
      return;
    }
    if (offset === 0) replace(results, h('p', {class: 'muted list-summary'}, 'Newest first; each hit is where the text was first said in its conversation.'), list, more);
    for (const hit of hits) list.append(hitItem(hit));
    offset += hits.length;
    if (hits.length === PAGE) {
      const btn = h('button', {type: 'button', class: 'button'}, 'More results');
      btn.addEventListener('click', () => {
        replace(more, loading());
        load();
      });
      replace(more, btn);
    } else {
      replace(more);
    }
  };
  load();
  return null;
}
