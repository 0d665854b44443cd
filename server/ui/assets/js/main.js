// The application shell: theme, project switcher, live indicator, global
// search, keyboard shortcuts and the hash router that renders one view at a
// time into <main>.

import {h, replace, icon, clear} from './dom.js';
import {get, setAPIKey, apiKey, isAbort} from './api.js';
import * as route from './route.js';
import * as live from './live.js';
import * as keys from './keys.js';
import {disposeWithin} from './feedback.js';
import {showError, hideBanner, dialog, helpDialog} from './ui.js';
import * as conversations from './views/conversations.js';
import * as conversation from './views/conversation.js';
import * as trace from './views/trace.js';
import * as agents from './views/agents.js';
import * as search from './views/search.js';
import * as metrics from './views/metrics.js';

// ---- theme ----

const THEME_KEY = 'weave.theme';

function storedTheme() {
  try {
    return localStorage.getItem(THEME_KEY) || '';
  } catch {
    return '';
  }
}

function effectiveTheme() {
  const t = document.documentElement.dataset.theme;
  if (t === 'light' || t === 'dark') return t;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applyTheme(t) {
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const btn = document.getElementById('theme-toggle');
  const eff = effectiveTheme();
  replace(btn, icon(eff === 'dark' ? 'moon' : 'sun'));
  const label = `Theme: ${eff}${t ? '' : ' (from the system)'}; switch to ${eff === 'dark' ? 'light' : 'dark'} (t)`;
  btn.title = label;
  btn.setAttribute('aria-label', label);
}

function toggleTheme() {
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  // Back to following the system when the choice matches it.
  const system = window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  const store = next === system ? '' : next;
  try {
    if (store) localStorage.setItem(THEME_KEY, store);
    else localStorage.removeItem(THEME_KEY);
  } catch {
    // Storage disabled: the choice lasts for this page.
  }
  applyTheme(store);
}

// ---- projects ----

let projects = [];

async function loadProjects() {
  const resp = await get('/genai/projects');
  projects = resp.projects || [];
  route.setDefaultProject(resp.default_project || projects[0] || 'local/default');
  renderProjectSelect();
}

function renderProjectSelect() {
  const sel = document.getElementById('project-select');
  const cur = route.project();
  const list = projects.includes(cur) ? projects : [...projects, cur];
  replace(sel, list.map((p) => h('option', {value: p, selected: p === cur},
    p + (p === route.getDefaultProject() ? ' (default)' : ''))));
}

// ---- live indicator ----

function initLiveIndicator() {
  const el = document.getElementById('live-indicator');
  live.subscribe((st) => {
    const n = live.runningTraces(st.spans).size;
    if (st.error) {
      el.hidden = false;
      el.className = 'live-indicator offline';
      replace(el, 'server unreachable');
      el.removeAttribute('href');
      el.title = st.error.message;
      return;
    }
    el.hidden = n === 0;
    el.className = 'live-indicator';
    el.title = `${n} turn${n === 1 ? '' : 's'} running now`;
    // One running conversation: link straight to it; several: the list,
    // where running ones sort first as the newest.
    const convs = new Set(st.spans.map((s) => s.conversation_id).filter(Boolean));
    el.setAttribute('href', convs.size === 1 ? route.link.conversation([...convs][0]) : route.link.conversations());
    replace(el, h('span', {class: 'pulse', 'aria-hidden': 'true'}), `${n} running`);
  });
}

// ---- router ----

const views = [
  {id: 'conversations', match: (s) => s.length === 0, view: conversations, nav: 'nav-conversations'},
  {id: 'conversation', match: (s) => s[0] === 'c' && s.length === 2, view: conversation, nav: 'nav-conversations'},
  {id: 'trace', match: (s) => s[0] === 't' && s.length === 2, view: trace, nav: 'nav-conversations'},
  {id: 'agents', match: (s) => s[0] === 'agents' && s.length <= 2, view: agents, nav: 'nav-agents'},
  {id: 'search', match: (s) => s[0] === 'search' && s.length === 1, view: search, nav: 'nav-search'},
  {id: 'metrics', match: (s) => s[0] === 'metrics' && s.length === 1, view: metrics, nav: 'nav-metrics'},
];

let current = null; // {cleanup, ctrl}

function navLinks() {
  document.getElementById('brand').setAttribute('href', route.link.conversations());
  document.getElementById('nav-conversations').setAttribute('href', route.link.conversations());
  document.getElementById('nav-agents').setAttribute('href', route.link.agents());
  document.getElementById('nav-search').setAttribute('href', route.link.search());
  document.getElementById('nav-metrics').setAttribute('href', route.link.metrics());
}

function render() {
  const {segments, params} = route.parse(location.hash);
  const p = params.get('p') || '';
  const before = route.project();
  route.setCurrentProject(p);
  if (route.project() !== before) {
    renderProjectSelect();
    live.pollNow();
  }
  navLinks();
  const main = document.getElementById('main');
  if (current) {
    current.ctrl.abort();
    if (current.cleanup) current.cleanup();
    current = null;
  }
  disposeWithin(main);
  clear(main);
  main.removeAttribute('data-nav-arrows');
  hideBanner();
  const entry = views.find((v) => v.match(segments));
  // Which view shows which route (for people debugging, and for tests).
  main.dataset.view = entry ? entry.id : 'not-found';
  main.dataset.route = location.hash || '#/';
  for (const v of views) document.getElementById(v.nav).removeAttribute('aria-current');
  if (!entry) {
    document.title = 'Not found · weave';
    main.append(h('div', {class: 'empty'}, h('h1', null, 'Nothing here'),
      h('p', null, 'This link does not match a page of the weave UI. '), h('a', {href: route.link.conversations()}, 'Go to conversations')));
    return;
  }
  document.getElementById(entry.nav).setAttribute('aria-current', 'page');
  const gs = document.getElementById('global-search-input');
  if (entry.view !== search) gs.value = '';
  const ctrl = new AbortController();
  let cleanup = null;
  try {
    cleanup = entry.view.render(main, {segments, params, signal: ctrl.signal});
  } catch (err) {
    showError('This page failed to render', err);
    console.error(err);
  }
  current = {ctrl, cleanup};
}

// ---- API key ----

let authOpen = false;

function askForKey(message) {
  if (authOpen) return;
  authOpen = true;
  const input = h('input', {type: 'password', class: 'input', autocomplete: 'off', 'aria-label': 'API key', placeholder: 'API key', value: apiKey()});
  const form = h('form', {class: 'key-form'},
    h('p', null, 'This weave-server needs an API key (it was started with API keys configured). The key is kept in this browser\'s local storage and sent as a bearer token.'),
    message ? h('p', {class: 'muted'}, message) : null,
    input,
    h('div', {class: 'fb-form-actions'}, h('button', {type: 'submit', class: 'button primary'}, 'Use key')));
  const d = dialog('API key needed', form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setAPIKey(input.value.trim());
    d.close();
    boot();
  });
  d.addEventListener('close', () => {
    authOpen = false;
  });
  input.focus();
}

// ---- boot ----

let started = false;

async function boot() {
  try {
    await loadProjects();
  } catch (err) {
    if (isAbort(err)) return;
    if (err.status !== 401) showError('Could not list projects', err);
    if (err.status === 401) return;
  }
  if (!started) {
    started = true;
    window.addEventListener('hashchange', render);
    initLiveIndicator();
  }
  render();
}

function init() {
  applyTheme(storedTheme());
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(storedTheme()));
  document.getElementById('theme-toggle').addEventListener('click', toggleTheme);
  document.getElementById('help-button').addEventListener('click', helpDialog);
  document.getElementById('project-select').addEventListener('change', (e) => {
    const p = e.target.value;
    route.setCurrentProject(p);
    route.go(route.link.conversations());
  });
  document.getElementById('global-search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = document.getElementById('global-search-input').value.trim();
    if (q) route.go(route.link.search({q}));
  });
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('weave:auth-required', (e) => askForKey(e.detail));
  keys.init({
    focusSearch: () => {
      const el = document.querySelector('#main [data-search-primary]') || document.getElementById('global-search-input');
      el.focus();
      if (el.select) el.select();
    },
    toggleTheme,
    help: helpDialog,
    go: (where) => route.go(where === 'agents' ? route.link.agents() : route.link.conversations()),
  });
  boot();
}

init();
