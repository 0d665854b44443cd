// Keyboard navigation. Views mark the items of their main list with
// data-nav-item (and, inside an item, the control that opens it with
// data-nav-open). Then:
//
//   j / ↓, k / ↑   move the selection (arrows only on list pages)
//   Enter          open the selected item
//   Esc            views' close handlers (expanded tool call, details
//                  panel, dialogs), else leave a text box
//   /              focus the page's search box (data-search-primary), else
//                  the global message search
//   g c, g a       go to conversations, agents
//   t              toggle the theme
//   ?              keyboard help

const escapeHandlers = [];
let pendingG = false;
let pendingTimer = null;

// onEscape registers a handler tried (newest first) when Esc is pressed;
// it returns true when it closed something. Returns the unregister
// function.
export function onEscape(fn) {
  escapeHandlers.push(fn);
  return () => {
    const i = escapeHandlers.indexOf(fn);
    if (i >= 0) escapeHandlers.splice(i, 1);
  };
}

function isEditable(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

function items() {
  const main = document.getElementById('main');
  return [...main.querySelectorAll('[data-nav-item]')].filter((el) => el.offsetParent !== null || el === document.activeElement);
}

function currentIndex(list) {
  const a = document.activeElement;
  let i = list.findIndex((el) => el === a || el.contains(a));
  if (i < 0) i = list.findIndex((el) => el.classList.contains('nav-selected'));
  return i;
}

// select makes el the selected item and focuses it.
export function select(el, opts = {}) {
  for (const x of document.querySelectorAll('.nav-selected')) {
    x.classList.remove('nav-selected');
    x.removeAttribute('aria-current');
  }
  if (!el) return;
  el.classList.add('nav-selected');
  el.setAttribute('aria-current', 'true');
  if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  if (opts.focus !== false) el.focus({preventScroll: true});
  el.scrollIntoView({block: opts.block || 'nearest'});
}

function move(delta) {
  const list = items();
  if (list.length === 0) return false;
  const i = currentIndex(list);
  const next = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, i + delta));
  select(list[next]);
  return true;
}

function openSelected() {
  const list = items();
  const i = currentIndex(list);
  if (i < 0) return false;
  const item = list[i];
  const target = item.querySelector('[data-nav-open]') || (item.matches('a[href], button') ? item : item.querySelector('a[href]'));
  if (!target) return false;
  target.click();
  return true;
}

// init installs the global key handler.
export function init({focusSearch, toggleTheme, help, go}) {
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (document.querySelector('dialog[open]')) return; // the dialog handles its keys
    if (isEditable(t)) {
      if (e.key === 'Escape') {
        for (let i = escapeHandlers.length - 1; i >= 0; i--) {
          if (escapeHandlers[i](t)) {
            e.preventDefault();
            return;
          }
        }
        t.blur();
        e.preventDefault();
      }
      return;
    }
    if (pendingG) {
      pendingG = false;
      clearTimeout(pendingTimer);
      if (e.key === 'c') {
        go('conversations');
        e.preventDefault();
        return;
      }
      if (e.key === 'a') {
        go('agents');
        e.preventDefault();
        return;
      }
    }
    const arrows = document.getElementById('main').dataset.navArrows === 'true';
    const onControl = t && t.closest && t.closest('button, a[href], summary, pre, .waterfall-scroll') && !t.hasAttribute('data-nav-item');
    switch (e.key) {
      case '/':
        e.preventDefault();
        focusSearch();
        return;
      case '?':
        e.preventDefault();
        help();
        return;
      case 'g':
        pendingG = true;
        pendingTimer = setTimeout(() => {
          pendingG = false;
        }, 1500);
        return;
      case 't':
        toggleTheme();
        e.preventDefault();
        return;
      case 'j':
        if (move(1)) e.preventDefault();
        return;
      case 'k':
        if (move(-1)) e.preventDefault();
        return;
      case 'ArrowDown':
        if (arrows && !(onControl && t.tagName === 'PRE') && move(1)) e.preventDefault();
        return;
      case 'ArrowUp':
        if (arrows && !(onControl && t.tagName === 'PRE') && move(-1)) e.preventDefault();
        return;
      case 'Enter':
        if (!onControl && openSelected()) e.preventDefault();
        return;
      case 'Escape':
        for (let i = escapeHandlers.length - 1; i >= 0; i--) {
          if (escapeHandlers[i](t)) {
            e.preventDefault();
            return;
          }
        }
        select(null);
        return;
      default:
    }
  });
}
