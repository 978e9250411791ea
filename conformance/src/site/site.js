// The search box of every page: sections and scenarios by id or text,
// from window.NODEHTTP_SEARCH (search.js). Enter opens the first result;
// `?q=WORDS` in the address fills the box.
(function () {
  'use strict';
  const input = document.getElementById('q');
  const list = document.getElementById('results');
  const entries = (window.NODEHTTP_SEARCH || []).map((e) => ({
    ...e,
    id: e.i.toLowerCase(),
    title: e.t.toLowerCase(),
    text: e.x.toLowerCase(),
  }));
  const MAX = 30;

  // Every word must appear; ids first, then titles, then the rest.
  function search(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length === 0) return [];
    const found = [];
    for (const e of entries) {
      let score = 0;
      for (const w of words) {
        if (e.id.includes(w)) score += 3;
        else if (e.title.includes(w)) score += 2;
        else if (e.text.includes(w)) score += 1;
        else { score = -1; break; }
      }
      if (score > 0) found.push([score, e]);
    }
    found.sort((a, b) => b[0] - a[0]);
    return found.map((f) => f[1]);
  }

  function show() {
    const hits = search(input.value);
    list.replaceChildren();
    if (input.value.trim() === '') { list.hidden = true; return; }
    for (const e of hits.slice(0, MAX)) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = e.u;
      const kind = document.createElement('span');
      kind.className = 'kind ' + e.k;
      kind.textContent = e.k;
      const id = document.createElement('code');
      id.textContent = e.i;
      const title = document.createElement('span');
      title.className = 'title';
      title.textContent = e.t;
      a.append(kind, id, title);
      li.append(a);
      list.append(li);
    }
    const more = document.createElement('li');
    more.className = 'count';
    more.textContent = hits.length === 0 ? 'nothing found'
      : hits.length > MAX ? `${MAX} of ${hits.length} shown` : `${hits.length} found`;
    list.append(more);
    list.hidden = false;
  }

  input.addEventListener('input', show);
  input.addEventListener('focus', show);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      const first = list.querySelector('a');
      if (first) location.href = first.href;
    } else if (ev.key === 'Escape') {
      list.hidden = true;
    }
  });
  document.addEventListener('click', (ev) => {
    if (!ev.target.closest('.search')) list.hidden = true;
  });
  // A link to a scenario opens its diffs.
  function openTarget() {
    const el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (el && el.matches('article.scenario')) {
      for (const d of el.querySelectorAll('details.diff')) d.open = true;
    }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  // `?open=ID` opens a scenario's diffs where it stands, without scrolling.
  const open = document.getElementById(new URLSearchParams(location.search).get('open') || '');
  if (open && open.matches('article.scenario')) {
    for (const d of open.querySelectorAll('details.diff')) d.open = true;
  }

  const q = new URLSearchParams(location.search).get('q');
  if (q) { input.value = q; show(); }
})();
