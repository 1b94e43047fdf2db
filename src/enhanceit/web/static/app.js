// EnhanceIt's page: a plain module, no build step. The API is described at /docs.
const $ = (id) => document.getElementById(id);
const RECENT = 'enhanceit.recent', KEY = 'enhanceit.key';
const NOISE = { auto: 'Auto', '-1': 'None', 0: 'Low', 1: 'Medium', 2: 'High', 3: 'Highest' };
const PHASES = { download: 'Download', decode: 'Decode', inference: 'Inference', encode: 'Encode', upload: 'Store' };
const ZOOMS = [1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
// The output formats as the server listed them in the page: each one's extension, and whether a quality applies.
const FORMATS = Object.fromEntries([...document.querySelectorAll('#format option')].filter((o) => o.value)
  .map((o) => [o.value, { ext: o.dataset.ext || o.value, quality: 'quality' in o.dataset }]));
const SAY = {
  network: 'Could not reach the server. Check the connection and try again.',
  'forbidden-url': 'The server is not allowed to fetch an image from that address.',
  'unsupported-operation': 'This model cannot do that: try another noise level, size or model.',
  400: 'The server did not accept these settings.',
  401: 'This server needs a valid API key: enter it below and try again.',
  403: 'The server refused this request.',
  404: 'Not found: the job or its result may have expired.',
  413: 'The image file is too large for this server.',
  415: 'That is not an image this server can read.',
  422: 'The image could not be processed.', // too many pixels, or undecodable: the detail says which
  499: 'The job was canceled.',
  502: 'The server holding the image answered with an error.',
  503: 'The service is unavailable; try again later.',
  504: 'The server holding the image took too long to answer.',
};

let models = [], picked = null, job = null, shown = null, zoom = 1, pos = 0.5, wheel = 0, drag = null;

const load = (k, d) => { try { return JSON.parse(localStorage.getItem(k)) ?? d; } catch { return d; } };
const store = (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)); return true; } catch { return false; } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const el = (tag, props, ...kids) => { const e = Object.assign(document.createElement(tag), props); e.append(...kids); return e; };
const checked = (name) => document.querySelector(`input[name="${name}"]:checked`)?.value;
const bytes = (n) => n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
const stem = (name) => (name || '').replace(/[?#].*/, '').split('/').pop().replace(/\.[^.]*$/, '') || 'image';
const fileName = (name, model, format) => `${stem(name)}-${model}.${FORMATS[format]?.ext || format}`;
const frames = (r) => (r.animated ? `, ${r.frames} frames` : ''); // an animation plays in the comparison
// What ran: the model an alias resolved to, and the noise reduction (the level 'auto' chose, from the image).
const ran = (j) => {
  const r = j.result, asked = j.options?.noise;
  if (!r.model) return '';
  const level = r.noise == null ? '' : `, noise reduction ${NOISE[r.noise] ?? r.noise}${asked === 'auto' ? ' (auto)' : ''}`;
  return ` ${r.model}${level}.`;
};
function expiry(at) {
  const m = Math.round((Date.parse(at) - Date.now()) / 60000);
  if (!(m > 0)) return 'Link expired.';
  return `Link expires in ${m < 90 ? `${m} min` : m < 2160 ? `${Math.round(m / 60)} h` : `${Math.round(m / 1440)} days`}.`;
}

// ---- the API, and its errors in plain words ----
class Problem extends Error {
  constructor(status, type, detail = '', rid = '', retry = 0) { super(type); Object.assign(this, { status, type, detail, rid, retry }); }
}
const local = (text) => new Problem(-1, 'local', text);

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json, application/problem+json');
  const key = load(KEY, '');
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let r, body = null;
  try { r = await fetch(path, { ...init, headers }); } catch { throw new Problem(0, 'network'); }
  try { body = await r.json(); } catch { /* not JSON (a proxy's page): never shown */ }
  if (r.ok && body && typeof body === 'object') return body;
  const b = body && typeof body === 'object' ? body : {}, text = (v) => (typeof v === 'string' ? v : '');
  throw new Problem(r.ok ? 500 : r.status, text(b.type).split('/').pop(), text(b.detail), text(b.request_id),
    parseInt(r.headers.get('Retry-After'), 10) || 0);
}

function showError(p) {
  const box = $('error');
  let main = p.detail, detail = '';
  if (p.type !== 'local') {
    main = p.status === 429 ? `The server is busy. Try again ${p.retry ? `in ${p.retry} s` : 'shortly'}.`
      : SAY[p.type] || SAY[p.status] || (p.status >= 500 ? 'The server failed; try again later.' : 'The request failed.');
    detail = /^\s*[[{<]/.test(p.detail) ? '' : p.detail; // a plain sentence, never a dump
  }
  box.replaceChildren(el('p', {}, el('strong', { textContent: main })));
  if (detail) box.append(el('p', { textContent: `Details: ${detail[0].toUpperCase()}${detail.slice(1)}${/[.!?]$/.test(detail) ? '' : '.'}` }));
  if (p.rid) box.append(el('p', { className: 'hint', textContent: `Reference: ${p.rid}` }));
  box.hidden = false;
  if (p.status === 401) { $('keyBox').hidden = false; $('key').focus(); }
}
const hideError = () => { $('error').hidden = true; };

// ---- the form ----
async function loadModels() {
  try { models = await api('v1/models'); } catch (p) { showError(p); }
  if (!Array.isArray(models)) models = [];
  const sel = $('model'), ok = (m) => m.alias || (m.available !== false && m.enabled !== false);
  const opt = (m) => el('option', { value: m.id, disabled: !ok(m), textContent: (m.title || m.id) + (m.enabled === false ? ' (off: licence)' : '') });
  sel.replaceChildren(...[['Recommended', true], ['Every model', false]].map(([label, a]) =>
    el('optgroup', { label }, ...models.filter((m) => !!m.alias === a).map(opt))));
  sel.value = (models.find((m) => m.id === 'photo') || models.find(ok) || {}).id || '';
  modelChanged();
}

function modelChanged() {
  const m = models.find((x) => x.id === $('model').value);
  $('summary').textContent = !m ? '' : m.alias
    ? `${m.summary} Here: ${Object.entries(m.resolves_to.scale).map(([s, id]) => `${s}x: ${id || 'none'}`).join(', ')}.`
    : `${m.summary} Native scales: ${m.scales.map((s) => `${s}x`).join(', ')}. Licence: ${m.licence}.`;
  const levels = ['auto', ...[...new Set([-1, ...(m?.alias ? [0, 1, 2, 3] : m?.noise_levels || [])])].sort((a, b) => a - b).map(String)];
  const was = checked('noise'), on = levels.includes(was) ? was : 'auto'; // auto: from the image (a JPEG's quality)
  $('noiseOpts').replaceChildren(...levels.map((n) => el('label', {},
    el('input', { type: 'radio', name: 'noise', value: n, checked: n === on }), ` ${NOISE[n] ?? n}`)));
}

function formatChanged() {
  const f = $('format').value;
  $('qualityBox').hidden = $('qualityHint').hidden = !FORMATS[f]?.quality;
  $('qualityHint').textContent = `1–100; higher is better and larger.${f === 'webp' ? ' WebP with a quality is lossy.' : ''}`;
}

function options() { // the server checks every value and says what is wrong
  const noise = checked('noise') || 'auto';
  const o = { model: $('model').value, noise: noise === 'auto' ? noise : +noise, tta: +$('tta').value };
  if ($('format').value) o.format = $('format').value; // none: PNG, or an animation's own format
  const size = checked('size');
  if (size === 'width') o.width = +$('width').value;
  else o.scale = +(size === 'custom' ? $('scale').value : size);
  if (FORMATS[o.format]?.quality) o.quality = +$('quality').value;
  return o;
}

function pick(file, name) {
  hideError();
  if (picked && picked.src !== shown?.before && picked.src !== job?.before) URL.revokeObjectURL(picked.src);
  picked = { file, name: name || file.name, src: URL.createObjectURL(file) };
  $('url').value = '';
  const img = $('pickedImg'), text = $('pickedText');
  text.textContent = `${picked.name} · ${bytes(file.size)}`;
  img.onload = () => { text.textContent += ` · ${img.naturalWidth}×${img.naturalHeight}`; };
  img.src = picked.src;
  $('picked').hidden = false;
}
function unpick() {
  $('file').value = '';
  $('picked').hidden = true;
  picked = null;
}

async function submit(e) {
  e.preventDefault();
  if (job) return;
  if ($('key').value.trim()) await saveKey(); // Enter in the key's field
  hideError();
  const url = $('url').value.trim();
  if (!url && !picked) return showError(local('Choose, drop or paste an image, or enter its address.'));
  if (!$('model').value) return showError(local('No model to choose from: the model list could not be loaded.'));
  const o = options(), headers = { Prefer: 'respond-async' };
  let body;
  if (url) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify({ image_url: url, ...o });
    job = { before: /^https?:/i.test(url) ? url : '', name: url };
  } else {
    body = new FormData();
    body.append('file', picked.file, picked.name);
    for (const [k, v] of Object.entries(o)) body.append(k, v);
    job = { before: picked.src, name: picked.name };
  }
  $('go').ariaDisabled = 'true'; // not disabled: the button keeps the keyboard focus
  $('job').hidden = false;
  $('timings').hidden = true;
  $('bar').value = 0;
  status(url ? 'Sending the address…' : 'Uploading the image…');
  try {
    await follow(await api('v1/enhance', { method: 'POST', headers, body }));
  } catch (p) {
    status('Failed.');
    showError(p);
  }
  job = null;
  $('go').ariaDisabled = null;
  $('cancel').hidden = true;
  if (document.activeElement === document.body) $('go').focus(); // Cancel was pressed, then hidden
}

function status(text) { if ($('status').textContent !== text) $('status').textContent = text; }

async function follow(j) {
  job.id = j.id;
  $('cancel').hidden = $('cancel').disabled = false;
  let delay = 300, misses = 0;
  for (;;) {
    const p = clamp(+j.progress || 0, 0, 1);
    $('bar').value = j.status === 'succeeded' ? 1 : p;
    status({ queued: 'Waiting in the queue…', running: `Enhancing… ${Math.floor(p * 10) * 10}%`, failed: 'Failed.', canceled: 'Canceled.' }[j.status] || 'Done.');
    if (['succeeded', 'failed', 'canceled'].includes(j.status)) break;
    await sleep(delay);
    delay = Math.min(delay * 1.3, 1500);
    try {
      j = await api(`v1/jobs/${encodeURIComponent(j.id)}`);
      misses = 0;
    } catch (e) {
      if (!(e.status === 0 || e.status === 429 || e.status >= 502) || ++misses > 8) throw e;
      status('Reconnecting…');
      await sleep(e.retry * 1000);
    }
  }
  $('cancel').hidden = true;
  const e = j.error;
  if (j.status === 'failed') throw new Problem(e?.status || 500, e?.type || '', e?.message || '');
  if (j.status !== 'succeeded' || !j.result) return;
  timings(j.timings || {});
  status(`Done: ${j.result.width}×${j.result.height}${frames(j.result)}, ${bytes(j.result.bytes)}.${ran(j)}`);
  show(j);
}

async function cancel() {
  $('cancel').disabled = true;
  status('Canceling…');
  try { await api(`v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' }); } catch (p) { showError(p); $('cancel').disabled = false; }
}

function timings(t) {
  const rows = Object.keys(PHASES).filter((k) => typeof t[k] === 'number').map((k) => [PHASES[k], t[k]]);
  rows.push(['Total', rows.reduce((s, r) => s + r[1], 0)]);
  $('timings').replaceChildren(...rows.map(([label, s]) => el('div', {}, el('dt', { textContent: label }),
    el('dd', { textContent: s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(s < 10 ? 2 : 1)} s` }))));
  $('timings').hidden = rows.length < 2;
}

// ---- before / after ----
const view = $('view'), stage = $('stage'), knob = $('knob'), after = $('after'), before = $('before'), cmp = $('cmp');

function show(j) {
  const r = j.result, model = r.model || j.options?.model || '';
  const w = j.warnings || [];
  $('warnings').textContent = w.map((x) => `${x[0].toUpperCase()}${x.slice(1)}.`).join(' ');
  $('warnings').hidden = !w.length;
  shown = { ...r, before: job.before };
  $('result').hidden = false;
  const name = job.name;
  after.onload = () => remember(j, name);
  after.onerror = () => showError(local('The result could not be shown; its link may have expired.'));
  after.src = r.url;
  before.hidden = !shown.before;
  before.onerror = () => { before.hidden = true; };
  before.src = shown.before || 'data:,';
  const a = $('download');
  a.href = r.url;
  a.download = fileName(name, model, r.format);
  a.textContent = `Download ${r.format.toUpperCase()} · ${r.width}×${r.height}${frames(r)} · ${bytes(r.bytes)}`;
  $('expires').textContent = expiry(r.expires_at);
  const c = $('copy'); // a signed URL of the same image (from an address, and the server has a URL key)
  c.hidden = !j.signed_url;
  c.href = j.signed_url ? new URL(j.signed_url, location.href).href : '#';
  c.textContent = 'Copy link';
  pos = 0.5;
  setZoom(fit());
  $('result').scrollIntoView({ block: 'nearest' });
}

function fit() {
  const f = Math.min(view.clientWidth / shown.width, Math.max(200, innerHeight * 0.7) / shown.height);
  return f >= 1 ? Math.floor(f) : f; // whole multiples keep pixels square
}
function setZoom(z, cx, cy) {
  if (!shown) return;
  const v = view.getBoundingClientRect(), s = stage.getBoundingClientRect();
  cx ??= v.left + view.clientWidth / 2;
  cy ??= v.top + view.clientHeight / 2;
  const fx = s.width ? (cx - s.left) / s.width : 0.5, fy = s.height ? (cy - s.top) / s.height : 0.5;
  zoom = clamp(z, 1 / 16, 32);
  stage.style.width = `${Math.max(1, Math.round(shown.width * zoom))}px`;
  stage.style.height = `${Math.max(1, Math.round(shown.height * zoom))}px`;
  stage.classList.toggle('px', zoom * devicePixelRatio > 1.01);
  const n = stage.getBoundingClientRect(); // keep the point under the pointer (or the middle) in place
  view.scrollLeft += n.left + fx * n.width - cx;
  view.scrollTop += n.top + fy * n.height - cy;
  $('zoomText').textContent = `${Math.round(zoom * 100)}%`;
  clip();
}
function step(dir, cx, cy) {
  const next = dir > 0 ? ZOOMS.find((z) => z > zoom * 1.001) : ZOOMS.findLast((z) => z < zoom * 0.999);
  if (next) setZoom(next, cx, cy);
}

function span() { // the visible part of the image, where the divider may go
  const c = cmp.getBoundingClientRect(), s = stage.getBoundingClientRect();
  const lo = Math.max(s.left, c.left);
  return { c, s, lo, w: Math.max(0, Math.min(s.right, c.left + view.clientWidth) - lo) };
}
function clip() {
  const { c, s, lo, w } = span(), x = lo + pos * w, n = Math.round(pos * 100);
  knob.style.left = `${x - c.left}px`;
  after.style.clipPath = `inset(0 0 0 ${Math.max(0, x - s.left)}px)`;
  knob.setAttribute('aria-valuenow', n);
  knob.setAttribute('aria-valuetext', `${n}% before, ${100 - n}% after`);
}
function moveTo(x) {
  const { lo, w } = span();
  pos = w ? clamp((x - lo) / w, 0, 1) : 0.5;
  clip();
}

knob.addEventListener('pointerdown', (e) => { knob.setPointerCapture(e.pointerId); knob.focus(); e.preventDefault(); });
knob.addEventListener('pointermove', (e) => { if (knob.hasPointerCapture(e.pointerId)) moveTo(e.clientX); });
knob.addEventListener('keydown', (e) => {
  const d = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10 }[e.key];
  if (d) pos += (e.shiftKey ? 10 : 1) * d / 100;
  else if (e.key === 'Home' || e.key === 'End') pos = e.key === 'End' ? 1 : 0;
  else return;
  e.preventDefault();
  pos = clamp(Math.round(pos * 100) / 100, 0, 1);
  clip();
});
view.addEventListener('pointerdown', (e) => { // mouse: drag to pan, click to move the divider
  if (e.pointerType !== 'mouse' || e.button) return;
  drag = { x: e.clientX, y: e.clientY, l: view.scrollLeft, t: view.scrollTop, moved: false };
  view.setPointerCapture(e.pointerId);
});
view.addEventListener('pointermove', (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; view.classList.add('drag'); }
  if (drag.moved) { view.scrollLeft = drag.l - dx; view.scrollTop = drag.t - dy; }
});
const undrag = (e) => {
  if (e.type === 'pointerup' && drag && !drag.moved) moveTo(e.clientX);
  drag = null;
  view.classList.remove('drag');
};
view.addEventListener('pointerup', undrag);
view.addEventListener('pointercancel', undrag);
view.addEventListener('click', (e) => { if (e.pointerType !== 'mouse') moveTo(e.clientX); }); // a tap
view.addEventListener('scroll', clip, { passive: true });
cmp.addEventListener('wheel', (e) => {
  if (!shown) return;
  e.preventDefault();
  wheel += e.deltaMode ? e.deltaY * 40 : e.deltaY;
  if (Math.abs(wheel) >= 50) { step(-wheel, e.clientX, e.clientY); wheel = 0; }
}, { passive: false });
const zoomKeys = { '+': () => step(1), '=': () => step(1), '-': () => step(-1), 0: () => setZoom(fit()), 1: () => setZoom(1) };
cmp.addEventListener('keydown', (e) => {
  const act = !e.ctrlKey && !e.metaKey && !e.altKey && zoomKeys[e.key];
  if (act) { e.preventDefault(); act(); }
});
$('zoomIn').onclick = zoomKeys['+'];
$('zoomOut').onclick = zoomKeys['-'];
$('zoomFit').onclick = zoomKeys[0];
$('zoom1').onclick = zoomKeys[1];
addEventListener('resize', clip);

// ---- recent results of this browser ----
function thumb(img) {
  try {
    const k = Math.min(1, 128 / Math.max(img.naturalWidth, img.naturalHeight));
    const c = el('canvas', { width: Math.ceil(img.naturalWidth * k), height: Math.ceil(img.naturalHeight * k) });
    c.getContext('2d').drawImage(img, 0, 0, c.width, c.height);
    return c.toDataURL('image/webp', 0.7);
  } catch { return ''; } // a result on another origin taints the canvas: show its link while it lasts
}
function remember(j, name) {
  const r = j.result, list = load(RECENT, []).filter((x) => x?.id !== j.id);
  list.unshift({ id: j.id, name: stem(name), model: r.model || j.options?.model || '', width: r.width, height: r.height, format: r.format,
    bytes: r.bytes, url: r.url, expires_at: r.expires_at, at: new Date().toISOString(), thumb: thumb(after) });
  list.length = Math.min(list.length, 20);
  while (!store(RECENT, list) && list.length) list.pop(); // over the quota: forget the oldest
  recent();
}
function recent() {
  const list = load(RECENT, []).filter((x) => x?.id);
  $('recentList').replaceChildren(...list.map((x) => {
    const live = Date.parse(x.expires_at) > Date.now(), src = x.thumb || (live ? x.url : '');
    const info = el('div', {}, el('b', { textContent: x.name }),
      `${x.model} · ${x.width}×${x.height} ${String(x.format).toUpperCase()} · ${bytes(x.bytes)}`, el('br'),
      new Date(x.at).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }), el('br'),
      live ? el('a', { href: x.url, download: fileName(x.name, x.model, x.format), textContent: 'Download' }) : '',
      el('span', { className: live ? 'hint' : 'gone', textContent: ` ${expiry(x.expires_at)}` }));
    return el('li', {}, src ? el('img', { src, alt: '', width: 64, height: 64 }) : el('span', { className: 'ph' }), info);
  }));
  $('recentNone').hidden = list.length > 0;
  $('recentClear').hidden = !list.length;
}

// ---- an image in: a file, dropped, pasted, or a URL ----
$('file').addEventListener('change', (e) => (e.target.files[0] ? pick(e.target.files[0]) : unpick()));
$('url').addEventListener('input', () => { if ($('url').value.trim()) unpick(); });
let depth = 0;
const over = (on) => $('drop').classList.toggle('over', on);
addEventListener('dragenter', (e) => { e.preventDefault(); over(++depth > 0); });
addEventListener('dragleave', () => over(--depth > 0));
addEventListener('dragover', (e) => e.preventDefault());
addEventListener('drop', (e) => {
  e.preventDefault();
  over((depth = 0));
  const dt = e.dataTransfer, f = dt.files[0];
  if (f) return pick(f);
  const url = (dt.getData('text/uri-list') || dt.getData('text/plain')).split(/\s+/).find((l) => /^https?:/i.test(l));
  if (url) { unpick(); $('url').value = url; }
});
document.addEventListener('paste', (e) => {
  const f = [...(e.clipboardData?.files || [])].find((x) => x.type.startsWith('image/'));
  if (f) { e.preventDefault(); pick(f, 'pasted-image.png'); }
});

// ---- wiring ----
$('form').addEventListener('submit', submit);
$('model').addEventListener('change', () => modelChanged());
$('format').addEventListener('change', formatChanged);
$('cancel').addEventListener('click', cancel);
$('copy').onclick = async (e) => { // still a link: where the clipboard is refused, its menu copies it
  e.preventDefault();
  const c = $('copy');
  try { await navigator.clipboard.writeText(c.href); c.textContent = 'Link copied'; } catch { showError(local('Copying was refused: right-click the link to copy it.')); }
};
for (const [id, v] of [['scale', 'custom'], ['width', 'width']]) $(id).addEventListener('input', () => { document.querySelector(`input[value="${v}"]`).checked = true; });
async function saveKey() { // every /v1 call needs it, the model list too: load that now if it failed
  const k = $('key').value.trim(); store(KEY, k); $('key').value = ''; hideError(); $('keyForget').hidden = !k;
  if (!models.length) await loadModels();
}
$('keySave').onclick = async () => { await saveKey(); $('go').focus(); };
$('keyForget').onclick = () => { localStorage.removeItem(KEY); $('keyForget').hidden = true; $('key').focus(); };
$('recentClear').onclick = () => { localStorage.removeItem(RECENT); recent(); $('recentTitle').focus(); };
$('keyBox').hidden = $('keyForget').hidden = !load(KEY, '');
formatChanged();
recent();
loadModels();
