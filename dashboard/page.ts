import type { JobView } from './view.js';

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

// JSON inside <script>: '<' escaped so no value can close the tag.
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

/** A `next` URL the page may go to: a path on this origin only ("/x", not "//host" or "/\\host"). */
export function safeNext(next: unknown): string | undefined {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return undefined;
  // Control characters and backslashes let some browsers read the path as another origin.
  if (/[\u0000-\u001f\\]/.test(next) || next.length > 2048) return undefined;
  return next;
}

export const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  main { max-width: 640px; margin: 10vh auto; background: #fff; border-radius: 10px; padding: 28px 32px; box-shadow: 0 2px 12px #0001; }
  h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #667; font-size: 14px; margin: 0 0 20px; word-break: break-all; }
  .track { height: 14px; background: #e4e7ec; border-radius: 7px; overflow: hidden; }
  #bar { height: 100%; width: 0; background: #3b6ee8; transition: width .25s; }
  #bar.completed { background: #2e9d5b; } #bar.failed, #bar.cancelled { background: #d14343; }
  .row { display: flex; justify-content: space-between; margin: 8px 0 0; font-size: 14px; color: #445; }
  #outcome { margin-top: 20px; } pre { background: #f1f3f6; padding: 12px; border-radius: 6px; overflow: auto; font-size: 13px; }
  .error { color: #b42318; } .note { color: #8a5a00; } button { margin-top: 16px; padding: 6px 14px; }`;

/** The progress page of a job the caller may see. */
export function progressPage(o: { view: JobView; eventsUrl: string; apiUrl: string; cancelUrl: string; next?: string; timeoutMs: number; title: string; nonce: string }): string {
  const { view } = o;
  const config = { view, eventsUrl: o.eventsUrl, apiUrl: o.apiUrl, cancelUrl: o.cancelUrl, next: o.next ?? null, timeoutMs: o.timeoutMs };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(view.name ?? 'Job')} · ${escapeHtml(o.title)}</title><style>${STYLE}</style></head>
<body><main>
  <h1 id="name">${escapeHtml(view.name ?? 'Job')}</h1>
  <p class="sub">job ${escapeHtml(view.id)} · queue ${escapeHtml(view.queue)}</p>
  <div class="track" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${view.percent}" id="track"><div id="bar" style="width:${view.percent}%"></div></div>
  <div class="row"><span id="message">${escapeHtml(view.message ?? '')}</span><span><span id="percent">${Math.round(view.percent)}</span> % · <span id="state">${escapeHtml(view.state)}</span></span></div>
  <div id="outcome"></div>
  <button id="cancel" type="button" hidden>Cancel job</button>
</main>
<script nonce="${o.nonce}">
(() => {
  const c = ${scriptJson(config)};
  const $ = (id) => document.getElementById(id);
  const started = Date.now();
  let finished = false, source, poller;
  function render(v) {
    $('bar').style.width = v.percent + '%';
    $('bar').className = v.state;
    $('track').setAttribute('aria-valuenow', String(v.percent));
    $('percent').textContent = String(Math.round(v.percent));
    $('state').textContent = v.state;
    $('message').textContent = v.message || '';
    $('cancel').hidden = v.done;
    if (!v.done) return;
    finished = true;
    if (source) source.close();
    clearInterval(poller);
    const out = $('outcome');
    out.replaceChildren();
    const p = document.createElement('p');
    if (v.state === 'completed') {
      p.textContent = 'Done.';
      const pre = document.createElement('pre');
      pre.id = 'result';
      pre.textContent = JSON.stringify(v.result, null, 2) ?? 'undefined';
      out.append(p, pre);
      if (c.next) { const a = document.createElement('p'); a.textContent = 'Continuing…'; out.append(a); setTimeout(() => location.assign(c.next), 800); }
    } else if (v.state === 'cancelled') {
      p.className = 'error'; p.textContent = 'The job was cancelled.'; out.append(p);
    } else if (v.state === 'failed') {
      p.className = 'error'; p.id = 'error';
      p.textContent = 'The job failed: ' + (v.error ? v.error.message : 'unknown error') + (v.error && v.error.code ? ' (' + v.error.code + ')' : '');
      out.append(p);
    } else {
      p.className = 'error'; p.textContent = 'This job no longer exists.'; out.append(p);
    }
  }
  function poll() {
    fetch(c.apiUrl, { credentials: 'same-origin' }).then((r) => r.ok ? r.json() : null).then((v) => v && render(v)).catch(() => {});
  }
  render(c.view);
  if (!finished) {
    source = new EventSource(c.eventsUrl, { withCredentials: true });
    source.onmessage = (e) => render(JSON.parse(e.data));
    // A stream that cannot be opened (proxy, auth) falls back to polling the JSON API.
    source.onerror = () => { if (source.readyState === EventSource.CLOSED && !finished && !poller) poller = setInterval(poll, 1000); };
    setTimeout(() => {
      if (finished) return;
      finished = true;
      if (source) source.close();
      clearInterval(poller);
      const p = document.createElement('p');
      p.className = 'note'; p.id = 'too-long';
      p.textContent = 'This is taking longer than expected (' + (c.timeoutMs < 10000 ? (c.timeoutMs / 1000).toFixed(1) : Math.round(c.timeoutMs / 1000)) + ' s). The job is still ' + $('state').textContent + '; reload this page to keep following it.';
      $('outcome').replaceChildren(p);
    }, Math.max(0, c.timeoutMs - (Date.now() - started)));
  }
  $('cancel').addEventListener('click', () => {
    fetch(c.cancelUrl, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: '{}' }).then(poll);
  });
})();
</script></body></html>`;
}

/** The page for a job that does not exist, or that the caller may not see (same answer, so ids do not leak). */
export function notFoundPage(id: string, title: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unknown job · ${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1>Unknown job</h1><p class="sub">job ${escapeHtml(id)}</p>
<p id="unknown">There is no job with this id that you can see. It may never have existed, or it finished long ago and was removed.</p></main></body></html>`;
}
