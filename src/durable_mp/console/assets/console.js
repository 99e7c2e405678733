// durable-mp console: executions, their timelines and histories.
// Plain browser JavaScript, no build step, no dependencies, nothing fetched from
// anywhere but the console's own server (or nothing at all, in a report file).
(() => {
  'use strict';

  const boot = JSON.parse(document.getElementById('boot').textContent);
  const LIVE = boot.mode === 'live';
  const TOKEN = new URLSearchParams(location.search).get('token') || '';
  const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'STOPPED'];
  const LABEL_W = 300;
  const ROW_H = 22;
  const AXIS_H = 26;
  const app = document.getElementById('app');
  const tooltip = document.getElementById('tooltip');
  const timings = (window.__consoleTimings = { start: performance.now() });
  document.documentElement.style.setProperty('--label-w', LABEL_W + 'px');

  // -- small helpers --------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value == null || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'text') node.textContent = value;
        else if (key === 'style') node.style.cssText = value;
        else if (key === 'dataset') Object.assign(node.dataset, value);
        else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? '' : value);
      }
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');

  function fmtClock(epoch) {
    if (epoch == null) return '—';
    const d = new Date(epoch * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // The live runner driving an execution: its lease's pid, host and since when.
  // (since when: the time of day for today, else the date too)
  function fmtOwner(owner) {
    if (!owner) return '—';
    const since = fmtClock(owner.since);
    const today = fmtClock(Date.now() / 1000).slice(0, 10);
    const when = since.startsWith(today) ? since.slice(11) : since;
    return `pid ${owner.pid} on ${owner.host} since ${when}`;
  }

  function fmtDuration(seconds) {
    if (seconds == null || !isFinite(seconds)) return '—';
    const s = Math.max(0, seconds);
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} m ${pad(Math.floor(s % 60))} s`;
    return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} m`;
  }

  const fmtOffset = (seconds) => (seconds == null ? '—' : `+${seconds.toFixed(3)} s`);
  const statusBadge = (status) => el('span', { class: `status ${status}`, text: status });
  const nowSeconds = () => Date.now() / 1000;

  function pretty(text) {
    if (text == null) return null;
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      return String(text);
    }
  }

  function toast(message, isError) {
    const box = document.getElementById('toasts');
    const note = el('div', { class: isError ? 'toast error' : 'toast', role: 'status', text: message });
    box.append(note);
    setTimeout(() => note.remove(), isError ? 8000 : 4000);
  }

  // Calls ``view.load`` one at a time; calls that arrive meanwhile fold into one more run,
  // spaced by twice the last run's time so a big execution never floods the server.
  // Nothing runs once the view is gone (the page moved to another view).
  function refresher(view) {
    let running = false;
    let again = false;
    async function run() {
      if (view.gone) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      const began = performance.now();
      try {
        await view.load();
      } catch (error) {
        if (!view.gone) toast(error.message, true);
      }
      running = false;
      if (again) {
        again = false;
        setTimeout(run, Math.max(300, 2 * (performance.now() - began)));
      }
    }
    return run;
  }

  // -- data: the console's server, or the data inside a report ----------------------

  class ApiError extends Error {}

  async function request(path, options) {
    const response = await fetch(path, options);
    const text = await response.text();
    let body = {};
    try {
      body = JSON.parse(text);
    } catch (_) {
      // not JSON: an error page from something else
    }
    if (!response.ok) throw new ApiError(body.error || `HTTP ${response.status}`);
    // the text lets a view skip redrawing what did not change
    Object.defineProperty(body, 'text', { value: text, enumerable: false });
    return body;
  }

  const headers = { 'X-Durable-MP-Token': TOKEN };
  const get = (path, params) =>
    request(`${path}?${new URLSearchParams(params || {})}`, { headers, cache: 'no-store' });
  const post = (path, body) =>
    request(path, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  const api = LIVE
    ? {
        executions: () => get('/api/executions'),
        execution: (name) => get('/api/execution', { name }),
        events: (name) => get('/api/events', { name }),
        event: (name, id) => get('/api/event', { name, id }),
        callback: (body) => post('/api/callback', body),
        stop: (body) => post('/api/stop', body),
      }
    : {
        executions: async () => ({ executions: [boot.execution.summary], readOnly: true }),
        execution: async () => boot.execution,
        events: async () => boot.events,
        event: async (_, id) => boot.history.find((event) => event.EventId === id),
      };

  const live = {
    listeners: new Set(),
    start() {
      if (!LIVE) return;
      const stream = new EventSource(`/api/stream?token=${encodeURIComponent(TOKEN)}`);
      stream.addEventListener('change', () => this.listeners.forEach((listener) => listener()));
      stream.addEventListener('hello', () => {
        setBadge('live', 'live', 'pill live');
        // Catch up on what changed before the stream took its first look at the store:
        // after a reconnection, and at the start too (the first fetch and the stream's
        // first look are not ordered; a change between them is in no 'change' event).
        this.listeners.forEach((listener) => listener());
      });
      stream.onerror = () => setBadge('live', 'disconnected', 'pill offline');
    },
    on(listener) {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    },
  };

  function setBadge(key, text, cls) {
    const badges = document.getElementById('badges');
    let badge = badges.querySelector(`[data-badge="${key}"]`);
    if (!badge) badges.append((badge = el('span', { dataset: { badge: key } })));
    badge.className = cls || 'pill';
    badge.textContent = text;
  }

  function markReady(view) {
    if (timings.ready == null) timings.ready = performance.now();
    document.body.dataset.view = view;
    document.body.dataset.ready = '1';
  }

  // -- executions list ------------------------------------------------------------

  class ListView {
    constructor() {
      this.filter = sessionStorage.getItem('durable-mp-filter') || 'ALL';
      this.selected = new Set();
      this.data = null;
      this.rows = new Map(); // name -> {signature, node}: unchanged rows are kept as they are
      this.filterButtons = new Map(['ALL', ...STATUSES].map((status) => [status, el('button', {
        dataset: { filter: status },
        onclick: () => {
          this.filter = status;
          sessionStorage.setItem('durable-mp-filter', status);
          this.render();
        },
      })]));
      this.compareButton = el('button', {
        class: 'primary', id: 'compare', disabled: true, onclick: () => this.compare(),
        title: 'tick two executions to see their timelines on one time axis',
      }, 'Compare selected');
      this.body = el('tbody');
      this.table = el('table', { class: 'grid', id: 'executions' },
        el('thead', null, el('tr', null,
          el('th', null, ''), el('th', null, 'Name'), el('th', null, 'Status'), el('th', null, 'Function'),
          el('th', null, 'Started'), el('th', { class: 'num' }, 'Duration'), el('th', null, 'Owner'),
          el('th', null, 'Steps'))),
        this.body);
      this.empty = el('div', { class: 'empty' });
      app.replaceChildren(
        el('h1', null, 'Executions'),
        el('div', { class: 'toolbar' },
          el('div', { class: 'seg', role: 'group', 'aria-label': 'status filter' }, [...this.filterButtons.values()]),
          el('span', { class: 'spacer' }), this.compareButton),
        this.table, this.empty,
      );
      this.refresh = refresher(this);
      this.off = live.on(this.refresh);
      this.ticker = setInterval(() => this.tick(), 1000);
      this.refresh();
    }

    destroy() {
      this.gone = true;
      this.off();
      clearInterval(this.ticker);
    }

    async load() {
      const data = await api.executions();
      // A view the page has left must not draw or mark itself ready over the next one.
      if (this.gone) return;
      this.data = data;
      if (this.data.readOnly) setBadge('ro', 'read-only store', 'pill');
      this.render();
      markReady('list');
    }

    render() {
      const executions = this.data.executions;
      const counts = { ALL: executions.length };
      for (const execution of executions) counts[execution.status] = (counts[execution.status] || 0) + 1;
      for (const [status, button] of this.filterButtons) {
        button.textContent = `${status === 'ALL' ? 'All' : status} (${counts[status] || 0})`;
        button.className = status === this.filter ? 'on' : '';
      }
      const names = new Set(executions.map((e) => e.name));
      for (const name of [...this.selected]) if (!names.has(name)) this.selected.delete(name);
      for (const name of [...this.rows.keys()]) if (!names.has(name)) this.rows.delete(name);
      this.compareButton.disabled = this.selected.size !== 2;
      const shown = executions.filter((e) => this.filter === 'ALL' || e.status === this.filter);
      this.body.replaceChildren(...shown.map((e) => this.row(e)));
      this.table.hidden = !shown.length;
      this.empty.hidden = !!shown.length;
      this.empty.textContent = executions.length ? 'No execution has this status.' :
        'No executions in this store yet. Start one with durable-mp run … --store (this page updates by itself).';
    }

    row(e) {
      const signature = JSON.stringify([e.status, e.end, e.owner, e.steps, e.invocations]);
      const known = this.rows.get(e.name);
      if (known && known.signature === signature) return known.node;
      const node = el('tr', { dataset: { name: e.name, status: e.status } },
        el('td', null, el('input', {
          type: 'checkbox', 'aria-label': `select ${e.name} for comparison`,
          checked: this.selected.has(e.name),
          onchange: (event) => {
            if (event.target.checked) this.selected.add(e.name);
            else this.selected.delete(e.name);
            this.compareButton.disabled = this.selected.size !== 2;
          },
        })),
        el('td', null, el('a', { href: `#/execution/${encodeURIComponent(e.name)}`, class: 'exec-link' }, e.name)),
        el('td', null, statusBadge(e.status)),
        el('td', { class: 'muted' }, e.function),
        el('td', null, fmtClock(e.start)),
        el('td', {
          class: 'num duration',
          dataset: e.status === 'RUNNING' ? { start: e.start } : null,
        }, fmtDuration(e.status === 'RUNNING' ? nowSeconds() - e.start : e.duration)),
        el('td', { class: 'muted owner' }, fmtOwner(e.owner)),
        el('td', null, progress(e.steps)),
      );
      this.rows.set(e.name, { signature, node });
      return node;
    }

    tick() {
      for (const cell of this.body.querySelectorAll('td.duration[data-start]')) {
        cell.textContent = fmtDuration(nowSeconds() - Number(cell.dataset.start));
      }
    }

    compare() {
      const [a, b] = [...this.selected];
      location.hash = `#/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`;
    }
  }

  function progress(steps) {
    const total = steps.done + steps.running + steps.failed + steps.waiting;
    const part = (cls, n) => (n ? el('span', { class: cls, style: `width:${(100 * n) / total}%` }) : null);
    const words = [`${steps.done} done`];
    if (steps.running) words.push(`${steps.running} running`);
    if (steps.failed) words.push(`${steps.failed} failed`);
    if (steps.waiting) words.push(`${steps.waiting} waiting to retry`);
    return el('span', { class: 'progress' },
      el('span', { class: 'bar-track' }, part('done', steps.done), part('running', steps.running),
        part('failed', steps.failed), part('waiting', steps.waiting)),
      el('span', { class: 'counts' }, words.join(' · ')));
  }

  // -- one execution ----------------------------------------------------------------

  class ExecutionView {
    constructor(name) {
      this.name = name;
      this.tab = 'timeline';
      this.detail = null;
      this.head = el('div');
      this.callbacks = el('div');
      this.tabs = el('div', { class: 'tabs', role: 'tablist' });
      this.body = el('div');
      this.timelineBox = el('div');
      this.timeline = new Timeline(this.timelineBox, { compare: false });
      this.history = null;
      app.replaceChildren(this.head, this.callbacks, this.tabs, this.body);
      this.refresh = refresher(this);
      this.off = live.on(this.refresh);
      this.ticker = setInterval(() => {
        for (const cell of this.head.querySelectorAll('.duration[data-start]')) {
          cell.textContent = fmtDuration(nowSeconds() - Number(cell.dataset.start));
        }
      }, 1000);
      this.refresh();
    }

    destroy() {
      this.gone = true;
      this.off();
      clearInterval(this.ticker);
      this.timeline.destroy();
    }

    async load() {
      let detail;
      try {
        detail = await api.execution(this.name);
      } catch (error) {
        if (this.gone) return;
        if (!this.detail) {
          app.replaceChildren(el('h1', null, this.name), el('div', { class: 'empty' }, error.message),
            el('p', null, el('a', { href: '#/' }, '← all executions')));
          markReady('error');
          return;
        }
        throw error;
      }
      if (this.gone) return;
      if (this.detail && detail.text && detail.text === this.detail.text) {
        markReady('execution');
        return; // nothing changed (an execution that ended never does)
      }
      detail.fetchedAt = nowSeconds();
      const first = !this.detail;
      this.detail = detail;
      if (detail.readOnly) setBadge('ro', 'read-only store', 'pill');
      this.renderHead();
      this.renderCallbacks();
      this.timeline.setTracks([{ name: this.name, detail }]);
      if (first) this.showTab(this.tab);
      else if (this.tab === 'data') this.renderData();
      else if (this.tab === 'history' && this.history) this.history.reload(detail.eventCount);
      markReady('execution');
    }

    renderHead() {
      const d = this.detail;
      const s = d.summary;
      // The controls outlive redraws, so a live update never drops what is being typed.
      if (LIVE && !this.controls) {
        this.stopBox = this.stopControl();
        this.controls = [this.stopBox, this.comparePicker()];
      }
      const actions = this.controls || [];
      if (this.stopBox) this.stopBox.hidden = d.readOnly || s.status !== 'RUNNING';
      this.head.replaceChildren(
        LIVE ? el('div', null, el('a', { href: '#/' }, '← all executions')) :
          el('div', { class: 'note' }, `durable-mp report, written ${fmtClock(boot.generated)} from ${boot.store}`),
        el('h1', null, el('span', { class: 'exec-name' }, s.name), statusBadge(s.status),
          el('span', { class: 'toolbar', style: 'margin:0' }, actions)),
        el('div', { class: 'facts' },
          el('span', null, 'function ', el('b', null, s.function)),
          el('span', null, 'started ', el('b', null, fmtClock(s.start))),
          el('span', null, s.end ? 'took ' : 'running for ',
            el('b', { class: 'duration', dataset: s.end ? null : { start: s.start } }, fmtDuration(s.end ? s.duration : nowSeconds() - s.start))),
          el('span', null, 'invocations ', el('b', null, s.invocations)),
          s.owner ? el('span', null, 'run by ', el('b', null, fmtOwner(s.owner))) : null,
          el('span', null, progress(s.steps))),
      );
    }

    stopControl() {
      const box = el('span', { class: 'confirm' });
      const ask = () => {
        const reason = el('input', { type: 'text', placeholder: 'reason (optional)', 'aria-label': 'stop reason' });
        box.replaceChildren(
          reason,
          el('button', {
            class: 'danger primary', id: 'confirm-stop',
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                const done = await api.stop({ name: this.name, message: reason.value || null });
                toast(`execution ${done.execution}: ${done.status}`);
              } catch (error) {
                toast(error.message, true);
              }
              this.refresh();
            },
          }, 'Stop execution'),
          el('button', { onclick: () => box.replaceChildren(start) }, 'Cancel'),
        );
        reason.focus();
      };
      const start = el('button', { class: 'danger', id: 'stop', onclick: ask }, 'Stop…');
      box.append(start);
      return box;
    }

    comparePicker() {
      const box = el('span', { class: 'compare-pick' });
      const open = async () => {
        const { executions } = await api.executions();
        const others = executions.filter((e) => e.name !== this.name);
        if (!others.length) {
          toast('There is no other execution to compare with.');
          return;
        }
        const select = el('select', { 'aria-label': 'execution to compare with' },
          others.map((e) => el('option', { value: e.name }, `${e.name} (${e.status}, ${fmtDuration(e.duration)})`)));
        box.replaceChildren(select, el('button', {
          onclick: () => {
            location.hash = `#/compare/${encodeURIComponent(this.name)}/${encodeURIComponent(select.value)}`;
          },
        }, 'Compare'));
      };
      box.append(el('button', { onclick: open }, 'Compare with…'));
      return box;
    }

    renderCallbacks() {
      const pending = this.detail.callbacks;
      if (!pending.length) {
        this.callbacks.replaceChildren();
        return;
      }
      const origin = this.detail.summary.start;
      const canAct = LIVE && !this.detail.readOnly;
      // Keep what someone is typing: redraw only when the set of callbacks changed.
      const key = pending.map((cb) => cb.callbackId).join(',') + canAct;
      if (this.callbacks.dataset.key === key) return;
      this.callbacks.dataset.key = key;
      const rows = pending.map((cb) => {
        const result = el('input', { type: 'text', placeholder: 'result as JSON, e.g. "approved"', 'aria-label': 'callback result', class: 'cb-result' });
        const message = el('input', { type: 'text', placeholder: 'error message', 'aria-label': 'callback error', class: 'cb-error' });
        const act = (action, extra) => async (event) => {
          const buttons = event.target.parentElement.querySelectorAll('button');
          buttons.forEach((b) => (b.disabled = true));
          try {
            await api.callback({ callbackId: cb.callbackId, action, ...extra() });
            toast(action === 'heartbeat' ? `callback ${cb.name || ''} kept alive` : `callback ${cb.name || ''} ${action === 'succeed' ? 'succeeded' : 'failed'}; the execution resumes`);
          } catch (error) {
            toast(error.message, true);
          }
          buttons.forEach((b) => (b.disabled = false));
          this.refresh();
        };
        return el('div', { class: 'callback-row', dataset: { callbackId: cb.callbackId } },
          el('span', { class: 'cb-name' }, cb.name || cb.operationId),
          el('code', { title: cb.callbackId }, cb.callbackId.slice(0, 16) + '…'),
          el('span', { class: 'muted' }, `waiting since ${fmtOffset(cb.started - origin)}`),
          canAct ? [
            result,
            el('button', { class: 'primary', dataset: { action: 'succeed' }, onclick: act('succeed', () => ({ result: result.value })) }, 'Succeed'),
            message,
            el('button', { class: 'danger', dataset: { action: 'fail' }, onclick: act('fail', () => ({ message: message.value })) }, 'Fail'),
            el('button', { dataset: { action: 'heartbeat' }, onclick: act('heartbeat', () => ({})) }, 'Heartbeat'),
          ] : el('span', { class: 'muted' }, LIVE ? '(read-only store)' : ''),
        );
      });
      this.callbacks.replaceChildren(el('div', { class: 'panel callbacks', id: 'callbacks' },
        el('b', null, `Waiting for ${pending.length} callback${pending.length > 1 ? 's' : ''}`), rows));
    }

    showTab(tab) {
      this.tab = tab;
      const tabs = [['timeline', 'Timeline'], ['history', `History (${this.detail.eventCount})`], ['data', 'Input & output']];
      this.tabs.replaceChildren(...tabs.map(([key, label]) =>
        el('button', { role: 'tab', class: key === tab ? 'on' : null, dataset: { tab: key }, onclick: () => this.showTab(key) }, label)));
      if (tab === 'timeline') {
        this.body.replaceChildren(this.timelineBox);
        this.timeline.render();
      } else if (tab === 'history') {
        this.history = this.history || new HistoryTable(this.name);
        this.body.replaceChildren(this.history.root);
        this.history.reload(this.detail.eventCount);
      } else {
        this.renderData();
      }
    }

    renderData() {
      const d = this.detail;
      const block = (title, text, cls) => [el('h2', null, title),
        text == null ? el('p', { class: 'muted' }, 'none') : el('pre', { class: `json ${cls || ''}` }, text)];
      this.body.replaceChildren(el('div', { id: 'payloads' },
        block('Input', pretty(d.input)),
        d.summary.status === 'SUCCEEDED' ? block('Result', pretty(d.result)) : null,
        d.error ? block('Error', JSON.stringify(d.error, null, 2), 'error') : null,
        d.summary.status === 'RUNNING' ? el('p', { class: 'muted' }, 'The execution is still running.') : null));
    }
  }

  // -- the history events table (virtualized: only the rows in view exist) -------------

  class HistoryTable {
    constructor(name) {
      this.name = name;
      this.rows = [];
      this.count = -1;
      this.selected = null;
      this.scroller = el('div', { class: 'vtable', id: 'history' });
      this.space = el('div', { style: 'position:relative' });
      this.scroller.append(
        el('div', { class: 'head' }, ['#', 'at', 'event', 'operation', 'name', 'details'].map((h) => el('div', null, h))),
        this.space,
      );
      this.json = el('div', { class: 'event-json' }, el('p', { class: 'muted' }, 'Click an event to see its JSON.'));
      this.root = el('div', { class: 'history' }, this.scroller, this.json);
      this.scroller.addEventListener('scroll', () => this.schedule());
    }

    async reload(count) {
      if (count === this.count) return;
      const data = await api.events(this.name);
      this.rows = data.rows;
      this.count = count;
      this.space.style.height = `${this.rows.length * 24}px`;
      this.draw();
    }

    schedule() {
      if (this.pending) return;
      this.pending = requestAnimationFrame(() => {
        this.pending = 0;
        this.draw();
      });
    }

    draw() {
      const top = this.scroller.scrollTop;
      const first = Math.max(0, Math.floor(top / 24) - 10);
      const last = Math.min(this.rows.length, Math.ceil((top + this.scroller.clientHeight) / 24) + 10);
      const nodes = [];
      for (let i = first; i < last; i++) {
        const [id, type, at, opId, name, brief] = this.rows[i];
        nodes.push(el('div', {
          class: id === this.selected ? 'vrow on' : 'vrow',
          style: `top:${i * 24}px`,
          dataset: { event: id },
          onclick: () => this.open(id),
        }, el('div', { class: 'mono' }, id), el('div', { class: 'mono' }, at.toFixed(3)), el('div', null, type),
        el('div', { class: 'mono', title: opId || '' }, opId || ''), el('div', null, name || ''), el('div', { class: 'muted', title: brief }, brief)));
      }
      this.space.replaceChildren(...nodes);
    }

    async open(id) {
      this.selected = id;
      this.draw();
      try {
        const event = await api.event(this.name, id);
        this.json.replaceChildren(el('b', null, `Event ${id}`), el('pre', { class: 'json', id: 'event-json' }, JSON.stringify(event, null, 2)));
      } catch (error) {
        toast(error.message, true);
      }
    }
  }

  // -- side by side ---------------------------------------------------------------------

  class CompareView {
    constructor(a, b) {
      this.names = [a, b];
      this.head = el('div');
      this.box = el('div');
      this.timeline = new Timeline(this.box, { compare: true });
      app.replaceChildren(this.head, this.box);
      this.refresh = refresher(this);
      this.off = live.on(this.refresh);
      this.refresh();
    }

    destroy() {
      this.gone = true;
      this.off();
      this.timeline.destroy();
    }

    async load() {
      const details = await Promise.all(this.names.map((name) => api.execution(name)));
      if (this.gone) return;
      const texts = details.map((d) => d.text).join('\n');
      if (texts && texts === this.texts) {
        markReady('compare');
        return; // neither changed
      }
      this.texts = texts;
      const fetchedAt = nowSeconds();
      details.forEach((d) => (d.fetchedAt = fetchedAt));
      const took = details.map((d) => (d.summary.end ? d.summary.duration : fetchedAt - d.summary.start));
      const ratio = took[0] > 0 && took[1] > 0 ? took[1] / took[0] : null;
      this.head.replaceChildren(
        el('div', null, el('a', { href: '#/' }, '← all executions')),
        el('h1', null, 'Side by side'),
        el('div', { class: 'facts' }, details.map((d, i) => el('span', null,
          el('a', { href: `#/execution/${encodeURIComponent(d.summary.name)}` }, d.summary.name), ' ',
          statusBadge(d.summary.status), ' ', el('b', null, fmtDuration(took[i])))),
          ratio ? el('span', null, `${this.names[1]} took `, el('b', null, `${ratio.toFixed(2)}×`), ` the time of ${this.names[0]}`) : null),
        el('p', { class: 'note' }, 'Both timelines start at 0: the time axis is seconds since each execution started.'),
      );
      this.timeline.setTracks(details.map((detail, i) => ({ name: this.names[i], detail })));
      markReady('compare');
    }
  }

  // -- the timeline (Gantt) ----------------------------------------------------------------

  const KIND_LABELS = {
    Map: 'map', MapIteration: 'item', Parallel: 'parallel', ParallelBranch: 'branch',
    WaitForCallback: 'wait-cb', WaitForCondition: 'condition', RunInChildContext: 'child',
  };

  function kindOf(type, subType) {
    if (subType && KIND_LABELS[subType]) return KIND_LABELS[subType];
    return { STEP: 'step', WAIT: 'wait', CALLBACK: 'callback', CONTEXT: 'context', CHAINED_INVOKE: 'invoke' }[type] || type.toLowerCase();
  }

  function niceStep(seconds) {
    const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
    return steps.find((s) => s >= seconds) || 86400;
  }

  function axisLabel(t, step) {
    if (step < 1) return `${t.toFixed(step < 0.01 ? 3 : step < 0.1 ? 2 : 1)} s`;
    if (step < 60) return `${Math.round(t)} s`;
    if (step < 3600) return `${Math.floor(t / 60)}:${pad(Math.round(t % 60))}`;
    return `${Math.floor(t / 3600)} h ${pad(Math.floor((t % 3600) / 60))}`;
  }

  // One execution's timeline data, indexed for drawing.
  class Track {
    constructor(index, name, detail, compare) {
      const t = detail.timeline;
      this.index = index;
      this.name = name;
      this.detail = detail;
      this.t = t;
      this.status = detail.summary.status;
      this.running = this.status === 'RUNNING';
      this.nowAt = t.now != null ? t.now + (nowSeconds() - detail.fetchedAt) : (t.end || 0);
      const ops = t.ops;
      const n = ops.id.length;
      this.n = n;
      this.children = new Array(n);
      this.roots = [];
      this.depth = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const p = ops.parent[i];
        if (p < 0) this.roots.push(i);
        else {
          (this.children[p] || (this.children[p] = [])).push(i);
          this.depth[i] = this.depth[p] + 1;
        }
      }
      const group = (list) => {
        const by = new Map();
        for (const item of list) {
          const found = by.get(item[0]);
          if (found) found.push(item);
          else by.set(item[0], [item]);
        }
        return by;
      };
      this.attempts = group(t.attempts);
      this.retryWaits = group(t.retryWaits);
      this.waits = new Map(t.waits.map(([op, end]) => [op, end]));
      this.runsByOp = group(t.runs);
      this.outcome = new Map(t.attempts.map((a) => [`${a[0]}:${a[1]}`, a[4]]));
      this.lanes = t.lanes.map((lane, i) => ({ ...lane, index: i, runs: [] }));
      for (const run of t.runs) this.lanes[run[2]].runs.push(run);
      for (const lane of this.lanes) lane.runs.sort((a, b) => a[3] - b[3]);
      this.lanes.sort((a, b) => {
        const order = { process: 0, thread: 1, inline: 2 };
        return (order[a.executor] - order[b.executor]) || ((a.runs[0] || [0, 0, 0, 0])[3] - (b.runs[0] || [0, 0, 0, 0])[3]);
      });
      let span = t.end != null ? t.end : this.nowAt;
      for (const end of ops.end) if (end != null && end > span) span = end;
      for (const run of t.runs) if (run[4] > span) span = run[4];
      this.span = Math.max(span, 0.001);
      this.compare = compare;
    }

    end(i) {
      const e = this.t.ops.end[i];
      return e != null ? e : this.nowAt;
    }

    key(i) {
      return `${this.index}:${this.t.ops.id[i]}`;
    }
  }

  class Timeline {
    constructor(container, { compare }) {
      this.compare = compare;
      this.tracks = [];
      this.rows = [];
      this.collapsed = new Set();
      this.seen = new Set(); // tracks whose default collapsing was applied
      this.scale = null; // px per second; null = fit to the width
      this.container = container;
      this.scroll = el('div', { class: 'gantt-scroll' });
      this.space = el('div', { class: 'gantt-space' });
      this.axis = el('div', { class: 'gantt-axis' });
      this.rowsBox = el('div', { class: 'gantt-rows' });
      this.space.append(this.axis, this.rowsBox);
      this.scroll.append(this.space);
      this.zoomLabel = el('span', { class: 'muted' });
      container.replaceChildren(
        el('div', { class: 'toolbar' },
          el('span', { class: 'seg' },
            el('button', { title: 'zoom out', onclick: () => this.zoomBy(1 / 1.6) }, '−'),
            el('button', { title: 'fit the whole execution', onclick: () => this.fit() }, 'Fit'),
            el('button', { title: 'zoom in (or Ctrl + wheel)', onclick: () => this.zoomBy(1.6) }, '+')),
          this.zoomLabel,
          el('button', { onclick: () => this.expandAll(true) }, 'Expand all'),
          el('button', { onclick: () => this.expandAll(false) }, 'Collapse all'),
          el('span', { class: 'spacer' }),
          legend()),
        el('div', { class: 'gantt', id: 'timeline' }, this.scroll),
        el('p', { class: 'note', id: 'timeline-note' }));
      this.note = container.querySelector('#timeline-note');
      this.scroll.addEventListener('scroll', () => this.schedule());
      this.scroll.addEventListener('wheel', (event) => {
        if (!event.ctrlKey && !event.metaKey) return;
        event.preventDefault();
        this.zoomBy(event.deltaY < 0 ? 1.25 : 0.8, event.clientX);
      }, { passive: false });
      this.scroll.addEventListener('mousemove', (event) => this.hover(event));
      this.scroll.addEventListener('mouseleave', () => (tooltip.hidden = true));
      this.scroll.addEventListener('click', (event) => {
        const twisty = event.target.closest('.twisty');
        if (!twisty) return;
        const key = twisty.dataset.key;
        if (this.collapsed.has(key)) this.collapsed.delete(key);
        else this.collapsed.add(key);
        this.buildRows();
        this.render();
      });
      this.onResize = () => this.schedule();
      window.addEventListener('resize', this.onResize);
    }

    destroy() {
      window.removeEventListener('resize', this.onResize);
      tooltip.hidden = true;
    }

    setTracks(list) {
      this.tracks = list.map((item, i) => new Track(i, item.name, item.detail, this.compare));
      for (const track of this.tracks) {
        const id = `${track.index}:${track.name}`;
        if (this.seen.has(id)) continue;
        this.seen.add(id);
        // Big executions open with their iterations folded (a map of thousands).
        if (track.n > 2000) {
          for (let i = 0; i < track.n; i++) if (track.children[i] && track.depth[i] >= 1) this.collapsed.add(track.key(i));
        }
      }
      this.span = Math.max(...this.tracks.map((t) => t.span));
      const withoutRuns = this.tracks.filter((t) => !t.lanes.length && t.t.attempts.length);
      this.note.textContent = withoutRuns.length
        ? 'No worker data was recorded for ' + withoutRuns.map((t) => t.name).join(', ') +
          ' (run on Lambda or by an older durable-mp): step bars show START to end from the history, without worker lanes.'
        : 'Bars: an operation from start to end; a step\'s attempts in its status color with the body, as measured where it ran, inside; hatched: a wait, a retry delay, a callback. Lanes: one per worker process (or thread) that ran step bodies.';
      this.buildRows();
      this.render();
    }

    buildRows() {
      const rows = [];
      for (const track of this.tracks) {
        if (this.compare) rows.push({ kind: 'track', track });
        rows.push({ kind: 'execution', track });
        if (track.t.invocations.length) rows.push({ kind: 'invocations', track });
        for (const lane of track.lanes) rows.push({ kind: 'lane', track, lane });
        const stack = [...track.roots].reverse();
        while (stack.length) {
          const i = stack.pop();
          rows.push({ kind: 'op', track, i });
          const kids = track.children[i];
          if (kids && !this.collapsed.has(track.key(i))) {
            for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
          }
        }
      }
      this.rows = rows;
    }

    expandAll(open) {
      this.collapsed.clear();
      if (!open) {
        for (const track of this.tracks) {
          for (let i = 0; i < track.n; i++) if (track.children[i]) this.collapsed.add(track.key(i));
        }
      }
      this.buildRows();
      this.render();
    }

    fitScale() {
      const width = Math.max(200, (this.scroll.clientWidth || 900) - LABEL_W - 12);
      return width / (this.span || 1);
    }

    fit() {
      this.scale = null;
      this.render();
    }

    zoomBy(factor, clientX) {
      const current = this.scale || this.fitScale();
      const rect = this.scroll.getBoundingClientRect();
      const anchor = clientX == null ? (this.scroll.clientWidth - LABEL_W) / 2 : clientX - rect.left - LABEL_W;
      const at = (this.scroll.scrollLeft + anchor) / current;
      this.scale = Math.min(200000, Math.max(this.fitScale() / 2, current * factor));
      this.render();
      this.scroll.scrollLeft = Math.max(0, at * this.scale - anchor);
      this.render();
    }

    schedule() {
      if (this.pending) return;
      this.pending = requestAnimationFrame(() => {
        this.pending = 0;
        this.render();
      });
    }

    render() {
      if (!this.tracks.length || !this.scroll.isConnected) return;
      const scale = this.scale || this.fitScale();
      this.px = scale;
      this.zoomLabel.textContent = `${fmtDuration(100 / scale)} per 100 px`;
      const width = LABEL_W + Math.floor(this.span * scale) + 8;
      this.space.style.width = `${width}px`;
      this.space.style.height = `${AXIS_H + this.rows.length * ROW_H}px`;
      const wanted = AXIS_H + this.rows.length * ROW_H + (this.scroll.offsetHeight - this.scroll.clientHeight) + 2;
      this.scroll.style.height = `${Math.min(wanted, Math.max(240, Math.round(window.innerHeight * 0.72)))}px`;
      const left = this.scroll.scrollLeft;
      const view = this.scroll.clientWidth - LABEL_W;
      const t0 = Math.max(0, left / scale);
      const t1 = (left + view) / scale;
      this.drawAxis(scale, t0, t1, width);
      const top = this.scroll.scrollTop;
      const first = Math.max(0, Math.floor(top / ROW_H) - 8);
      const last = Math.min(this.rows.length, Math.ceil((top + this.scroll.clientHeight) / ROW_H) + 8);
      const nodes = [];
      for (let r = first; r < last; r++) nodes.push(this.drawRow(this.rows[r], r, scale, t0, t1, width));
      const live = this.tracks.length === 1 && this.tracks[0].running;
      if (live) nodes.push(el('div', { class: 'now-line', style: `left:${LABEL_W + this.tracks[0].nowAt * scale}px;top:0;height:${this.rows.length * ROW_H}px` }));
      this.rowsBox.style.width = `${width}px`;
      this.rowsBox.replaceChildren(...nodes);
      if (timings.timeline == null) timings.timeline = performance.now();
    }

    drawAxis(scale, t0, t1, width) {
      const step = niceStep(100 / scale);
      const ticks = [el('div', { class: 'corner' }, this.compare ? 'seconds since each start' : 'seconds since start')];
      const until = Math.min(t1 + step, this.span);
      for (let t = Math.floor(t0 / step) * step; t <= until; t += step) {
        ticks.push(el('div', { class: 'tick', style: `left:${LABEL_W + t * scale}px` }, axisLabel(t, step)));
      }
      this.axis.style.width = `${width}px`;
      this.axis.replaceChildren(...ticks);
    }

    drawRow(row, r, scale, t0, t1, width) {
      const track = row.track;
      const node = el('div', { class: 'row', style: `top:${r * ROW_H}px;width:${width}px` });
      const x = (t) => LABEL_W + t * scale;
      // Appends a bar for [start, end] to this row, if any of it is in view.
      const bar = (cls, start, end, tip, text, data) => {
        if (end < t0 || start > t1) return;
        const w = Math.max(2, (end - start) * scale);
        const b = el('div', { class: `bar ${cls}`, style: `left:${x(start)}px;width:${w}px`, dataset: data || null }, w > 40 && text ? text : null);
        b._tip = tip;
        node.append(b);
      };
      const label = (...parts) => el('div', { class: 'label' }, parts);
      const s = track.detail.summary;
      if (row.kind === 'track') {
        node.classList.add('track');
        node.append(label(statusBadge(s.status), el('span', { class: 'name' }, s.name)));
        return node;
      }
      if (row.kind === 'execution') {
        node.classList.add('section');
        node.dataset.row = 'execution';
        const end = track.t.end != null ? track.t.end : track.nowAt;
        node.append(label(el('span', { class: 'kind' }, 'execution'), el('span', { class: 'name' }, s.name)));
        bar(`${s.status}${track.running ? ' open' : ''}`, 0, end,
          () => [['execution', s.name], ['status', s.status], ['function', s.function], ['took', fmtDuration(end)]], s.name);
        return node;
      }
      if (row.kind === 'invocations') {
        node.dataset.row = 'invocations';
        node.append(label(el('span', { class: 'kind' }, 'handler'), el('span', { class: 'name' }, 'invocations')));
        track.t.invocations.forEach(([a, b, ok], i) => bar(`invocation ${ok ? '' : 'failed'}`, a, b,
          () => [['invocation', i + 1], ['from', fmtOffset(a)], ['to', fmtOffset(b)], ['took', fmtDuration(b - a)], ['outcome', ok ? 'returned' : 'failed']]));
        return node;
      }
      if (row.kind === 'lane') {
        const lane = row.lane;
        node.classList.add('lane');
        Object.assign(node.dataset, { lane: lane.index, executor: lane.executor, pid: lane.pid, thread: lane.thread, track: track.index });
        node.append(label(el('span', { class: 'kind' }, lane.executor === 'process' ? 'worker' : lane.executor),
          el('span', { class: 'name' }, lane.executor === 'process' ? `pid ${lane.pid}` : `${lane.thread} · pid ${lane.pid}`)));
        this.drawLane(node, track, lane, scale, t0, t1, bar);
        return node;
      }
      // an operation
      const ops = track.t.ops;
      const i = row.i;
      const type = ops.type[i];
      const kind = kindOf(type, ops.subType[i]);
      const name = ops.name[i] || ops.id[i];
      const status = ops.status[i];
      const start = ops.start[i] != null ? ops.start[i] : 0;
      const end = track.end(i);
      const open = ops.end[i] == null && track.running;
      node.dataset.opId = ops.id[i];
      node.dataset.kind = kind;
      const kids = track.children[i];
      const key = track.key(i);
      node.append(el('div', { class: 'label', style: `padding-left:${6 + track.depth[i] * 14}px` },
        el('span', { class: 'twisty', dataset: kids ? { key } : null }, kids ? (this.collapsed.has(key) ? '▸' : '▾') : ''),
        el('span', { class: 'kind' }, kind),
        el('span', { class: 'name', title: `${name} (${ops.id[i]})` }, name),
        kids && this.collapsed.has(key) ? el('span', { class: 'kind' }, `(${kids.length})`) : null));
      const info = () => {
        const lines = [[kind, name], ['id', ops.id[i]], ['status', status], ['started', fmtOffset(start)]];
        if (ops.end[i] != null) lines.push(['ended', fmtOffset(ops.end[i])], ['took', fmtDuration(ops.end[i] - start)]);
        else lines.push(['so far', fmtDuration(end - start)]);
        return lines;
      };
      if (type === 'STEP') {
        bar(`life ${status}`, start, end, info);
        for (const [, n, a, b, outcome] of track.attempts.get(i) || []) {
          const stop = b != null ? b : end;
          bar(`attempt ${outcome}`, a, stop, () => [...info(), ['attempt', `${n}: ${outcome}`], ['attempt took', fmtDuration(stop - a)]],
            null, { attempt: n });
        }
        for (const [, a, b] of track.retryWaits.get(i) || []) {
          bar('retry-wait', a, b, () => [...info(), ['retry delay', fmtDuration(b - a)]]);
        }
        for (const [, n, laneIndex, a, b] of track.runsByOp.get(i) || []) {
          const lane = track.t.lanes[laneIndex];
          bar('body', a, b, () => [...info(), ['attempt', n], ['body ran', fmtDuration(b - a)], ['where', lane.label]]);
        }
      } else if (type === 'WAIT') {
        const planned = track.waits.get(i);
        bar(`wait ${status}`, start, ops.end[i] != null ? ops.end[i] : Math.max(end, planned || 0),
          () => [...info(), ['scheduled end', fmtOffset(planned)]], name);
      } else if (type === 'CALLBACK') {
        bar(`callback-wait ${status}`, start, end, info, name);
      } else if (type === 'CONTEXT') {
        bar(`context ${status}`, start, end, info);
      } else {
        bar(`${status}${open ? ' open' : ''}`, start, end, info, name);
      }
      return node;
    }

    drawLane(node, track, lane, scale, t0, t1, bar) {
      const runs = lane.runs;
      // first run that may be visible: runs on a lane never overlap, so ends ascend too
      let lo = 0;
      let hi = runs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (runs[mid][4] < t0) lo = mid + 1;
        else hi = mid;
      }
      const ops = track.t.ops;
      let cluster = null;
      const flush = () => {
        if (!cluster) return;
        const c = cluster;
        if (c.count === 1) {
          const [op, n, , a, b] = c.first;
          const outcome = track.outcome.get(`${op}:${n}`) || 'SUCCEEDED';
          bar(`run ${outcome}`, a, b, () => [['body of', ops.name[op] || ops.id[op]], ['operation', ops.id[op]], ['attempt', `${n}: ${outcome}`],
            ['ran', `${fmtOffset(a)} → ${fmtOffset(b)}`], ['took', fmtDuration(b - a)], ['where', lane.label]],
          ops.name[op] || ops.id[op], { op: ops.id[op], start: a, end: b });
        } else {
          bar('run cluster', c.start, c.end, () => [['bodies', c.count], ['from', fmtOffset(c.start)], ['to', fmtOffset(c.end)],
            ['busy', fmtDuration(c.busy)], ['where', lane.label], ['', 'zoom in to see each one']], `${c.count} bodies`, { count: c.count, start: c.start, end: c.end });
        }
        cluster = null;
      };
      for (let k = lo; k < runs.length; k++) {
        const run = runs[k];
        if (run[3] > t1) break;
        // Bodies too thin to tell apart (under 3 px, less than 2 px apart) share one bar.
        const thin = (run[4] - run[3]) * scale < 3;
        if (cluster && thin && cluster.thin && (run[3] - cluster.end) * scale < 2 &&
            (cluster.end - cluster.start) * scale < 400) {
          cluster.end = Math.max(cluster.end, run[4]);
          cluster.count += 1;
          cluster.busy += run[4] - run[3];
        } else {
          flush();
          cluster = { first: run, start: run[3], end: run[4], count: 1, busy: run[4] - run[3], thin };
        }
      }
      flush();
    }

    hover(event) {
      const target = event.target.closest('.bar');
      if (!target || !target._tip) {
        tooltip.hidden = true;
        return;
      }
      const lines = target._tip();
      tooltip.replaceChildren(...lines.map(([k, v], i) => el('div', null, i === 0 ? el('b', null, `${k} ${v}`) : [el('span', { class: 'k' }, k ? `${k}: ` : ''), String(v)])));
      tooltip.hidden = false;
      const x = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
      const y = event.clientY + 16 + tooltip.offsetHeight > window.innerHeight ? event.clientY - tooltip.offsetHeight - 10 : event.clientY + 16;
      tooltip.style.left = `${x}px`;
      tooltip.style.top = `${y}px`;
    }
  }

  function legend() {
    const item = (cls, text) => el('span', null, el('i', { class: `bar ${cls}` }), text);
    return el('span', { class: 'legend' },
      item('SUCCEEDED', 'succeeded'), item('FAILED', 'failed'), item('RETRY', 'retried'), item('RUNNING', 'running'),
      item('run', 'body in a worker'), item('wait', 'wait / retry delay'), item('callback-wait', 'callback'));
  }

  // -- start ------------------------------------------------------------------------------

  let current = null;

  function route() {
    if (current && current.destroy) current.destroy();
    document.body.dataset.ready = '';
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    if (!LIVE) current = new ExecutionView(boot.execution.summary.name);
    else if (parts[0] === 'execution' && parts[1]) current = new ExecutionView(parts[1]);
    else if (parts[0] === 'compare' && parts[1] && parts[2]) current = new CompareView(parts[1], parts[2]);
    else current = new ListView();
  }

  if (LIVE) {
    if (boot.readOnly) setBadge('ro', 'read-only store', 'pill');
    window.addEventListener('hashchange', route);
    live.start();
  } else {
    setBadge('report', 'report', 'pill');
    document.title = `${boot.execution.summary.name} · durable-mp report`;
  }
  route();
})();
