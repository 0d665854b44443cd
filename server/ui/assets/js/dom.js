// DOM construction. Everything the UI shows is built here from elements and
// text nodes: strings passed as children always become text nodes, never
// markup, so untrusted content cannot turn into HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// safeHref returns href when it is an in-app link (#...) or an absolute
// http(s)/mailto URL, else null.
export function safeHref(href) {
  if (typeof href !== 'string') return null;
  if (href.startsWith('#')) return href;
  let u;
  try {
    u = new URL(href);
  } catch {
    return null;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'mailto:') return u.href;
  return null;
}

function append(el, child) {
  if (child === null || child === undefined || child === false || child === true) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
    return;
  }
  if (child instanceof Node) {
    el.appendChild(child);
    return;
  }
  el.appendChild(document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) el.dataset[dk] = String(dv);
    } else if (k === 'style') {
      // CSSOM only: the Content-Security-Policy forbids style attributes.
      for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, String(sv));
    } else if (k === 'href') {
      const safe = safeHref(v);
      if (safe !== null) el.setAttribute('href', safe);
    } else if (k.startsWith('on')) {
      throw new Error('dom: event handlers go in the "on" object, not ' + k);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

// h builds an HTML element: h('a', {href: '#/', class: 'x'}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace swaps el's children for children.
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// frag builds a DocumentFragment.
export function frag(...children) {
  const f = document.createDocumentFragment();
  append(f, children);
  return f;
}

// icon returns a small inline SVG icon by name.
const ICONS = {
  'thumb-up': 'M2 10h3v10H2zM7 20h9.3a2 2 0 0 0 2-1.6l1.5-7A2 2 0 0 0 17.8 9H13l.8-4a1.6 1.6 0 0 0-3-1L7 10z',
  'thumb-down': 'M2 4h3v10H2zM7 4h9.3a2 2 0 0 1 2 1.6l1.5 7a2 2 0 0 1-2 2.4H13l.8 4a1.6 1.6 0 0 1-3 1L7 14z',
  note: 'M4 4h16v12H8l-4 4z',
  score: 'M4 20h3v-6H4zm6.5 0h3V9h-3zM17 20h3V4h-3z',
  chevron: 'M9 6l6 6-6 6',
  sun: 'M12 7a5 5 0 1 0 0 10 5 5 0 0 0 0-10zM12 1v3M12 20v3M1 12h3M20 12h3M4.2 4.2l2.1 2.1M17.7 17.7l2.1 2.1M4.2 19.8l2.1-2.1M17.7 6.3l2.1-2.1',
  moon: 'M20 14.5A8.5 8.5 0 0 1 9.5 4a8.5 8.5 0 1 0 10.5 10.5z',
  auto: 'M12 3a9 9 0 1 0 0 18zM12 3a9 9 0 0 1 0 18',
  close: 'M6 6l12 12M18 6L6 18',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
};

export function icon(name, cls) {
  const d = ICONS[name];
  return s('svg', {class: ['icon', cls], viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false'},
    s('path', {d}));
}

// onVisible calls fn once when el scrolls into view (or at once without
// IntersectionObserver). It returns a function that cancels the watch.
export function onVisible(el, fn) {
  if (typeof IntersectionObserver === 'undefined') {
    fn();
    return () => {};
  }
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      io.disconnect();
      fn();
    }
  }, {rootMargin: '400px'});
  io.observe(el);
  return () => io.disconnect();
}
