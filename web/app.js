// lift3d serve page: choose photos, preview the cut-out, run a job, follow it, view the model.
// Every URL is relative so the page also works behind a reverse proxy under a path prefix.

const $ = (id) => document.getElementById(id);
// el('a', {className: 'x', href}, child...): a small element builder; props go on as properties.
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
const TOKEN_KEY = 'lift3d.token';
const IMAGE_EXT = /\.(jpe?g|png|webp|bmp|tiff?|heic|heif|gif)$/i;
const VIDEO_EXT = /\.(mp4|mov|m4v|webm|mkv|avi)$/i;

const state = {
  info: null,
  files: [],
  segmentAbort: null,
  follow: null, // {id, abort, stopped} of the job being followed
  shownJobId: null,
  objectUrls: new Map(), // file URL -> blob URL of the shown job; revoked on switching
  previewUrls: [], // blob URLs of the chosen files' thumbnails and cut-out
  nextCursor: null,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- API -------------------------------------------------------------------------------

const token = () => localStorage.getItem(TOKEN_KEY) || '';

async function errorFrom(res) {
  // A body that is not our JSON (a proxy's HTML page, say) leaves the status line.
  const body = await res.json().catch(() => null);
  const error = (body && body.error) || {};
  let message = error.message || `${res.status} ${res.statusText}`.trim();
  const retry = res.headers.get('Retry-After');
  if (res.status === 429 && retry) message += ` Try again in ${retry} s.`;
  return new ApiError(res.status, error.code || `http_${res.status}`, message);
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { ...(token() ? { Authorization: `Bearer ${token()}` } : {}), ...options.headers },
  });
  if (res.status === 401) {
    const err = await errorFrom(res);
    askToken(token() ? 'The saved token was refused: ' + err.message : err.message);
    throw err;
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

const apiJson = async (path, options) => (await api(path, options)).json();

// A header cannot ride on <model-viewer src> or a download link, so with a token the files
// come through fetch() as blobs; without one plain (absolute) URLs keep AR viewers working,
// since Scene Viewer and Quick Look cannot open a blob: URL.
async function fileUrl(url) {
  if (!token()) return new URL(url, document.baseURI).href;
  if (!state.objectUrls.has(url)) {
    state.objectUrls.set(url, URL.createObjectURL(await (await api(url)).blob()));
  }
  return state.objectUrls.get(url);
}

// ---- token and banner --------------------------------------------------------------------

function askToken(reason) {
  $('token-reason').textContent = reason || 'This server needs an access token.';
  $('token-form').hidden = false;
  $('token-input').focus();
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  localStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
  $('token-input').value = '';
  $('token-form').hidden = true;
  start();
});

function showBanner(message) {
  $('banner').textContent = message;
  $('banner').hidden = !message;
}

function reportError(err) {
  // A 401 already opened the token form; a second message would only repeat it.
  if (err instanceof ApiError && err.status === 401) return;
  if (err?.name === 'AbortError') return;
  showBanner(err?.message || String(err));
}

// ---- choosing files ------------------------------------------------------------------------

function kindOf(file) {
  if (file.type.startsWith('image/') || (!file.type && IMAGE_EXT.test(file.name))) return 'image';
  if (file.type.startsWith('video/') || (!file.type && VIDEO_EXT.test(file.name))) return 'video';
  return null;
}

function modeOf(files) {
  if (files.length === 1 && kindOf(files[0]) === 'image') return 'image';
  return files.length ? 'photos' : null;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function clearPreview() {
  if (state.segmentAbort) state.segmentAbort.abort();
  state.previewUrls.forEach((u) => URL.revokeObjectURL(u));
  state.previewUrls = [];
  $('preview').hidden = true;
  $('thumbs').hidden = true;
  $('thumbs').replaceChildren();
  $('original-preview').removeAttribute('src');
  $('mask-preview').removeAttribute('src');
}

function previewUrl(blob) {
  state.previewUrls.push(URL.createObjectURL(blob));
  return state.previewUrls.at(-1);
}

function setFiles(list) {
  const all = Array.from(list);
  const files = all.filter(kindOf);
  clearPreview();
  state.files = files;
  showBanner(all.length > files.length
    ? `Skipped ${all.length - files.length} file(s) that are not images or videos.` : '');
  const mode = modeOf(files);
  const limits = state.info?.limits || {};
  const total = files.reduce((s, f) => s + f.size, 0);
  let problem = '';
  if (limits.max_upload_bytes && total > limits.max_upload_bytes) {
    problem = `Too large: ${formatBytes(total)} (limit ${formatBytes(limits.max_upload_bytes)}).`;
  } else if (limits.max_files && files.length > limits.max_files) {
    problem = `Too many files: ${files.length} (limit ${limits.max_files}).`;
  }
  const modeText = mode === 'image' ? 'Single-photo mode' : 'Photos mode (photogrammetry)';
  $('mode').textContent = !mode ? ''
    : `${modeText}: ${files.length} file(s), ${formatBytes(total)}. ${problem}`.trim();
  $('mode').classList.toggle('error', Boolean(problem));
  $('run').disabled = !mode || Boolean(problem);
  if (mode === 'image') previewSingle(files[0]);
  else if (mode) previewMany(files);
}

async function previewSingle(file) {
  $('preview').hidden = false;
  $('original-preview').src = previewUrl(file);
  $('mask-caption').textContent = 'Cutting out…';
  const abort = new AbortController();
  state.segmentAbort = abort;
  const body = new FormData();
  body.append('file', file);
  try {
    const res = await api('v1/segment', { method: 'POST', body, signal: abort.signal });
    const blob = await res.blob();
    if (abort.signal.aborted) return;
    $('mask-preview').src = previewUrl(blob);
    $('mask-caption').textContent = 'Cut-out (what will become 3D)';
  } catch (err) {
    if (abort.signal.aborted) return;
    $('mask-caption').textContent = `No cut-out: ${err.message}`;
  }
}

function previewMany(files) {
  const list = $('thumbs');
  for (const f of files.slice(0, 24)) {
    list.append(kindOf(f) === 'image'
      ? el('li', {}, el('img', { src: previewUrl(f), alt: f.name, loading: 'lazy' }))
      : el('li', { className: 'video-thumb', textContent: `🎞 ${f.name}` }));
  }
  if (files.length > 24) list.append(el('li', { textContent: `+${files.length - 24}` }));
  list.hidden = false;
}

const dropZone = $('drop-zone');
for (const name of ['dragenter', 'dragover', 'dragleave', 'drop']) {
  dropZone.addEventListener(name, (ev) => {
    ev.preventDefault();
    dropZone.classList.toggle('over', name === 'dragenter' || name === 'dragover');
  });
}
dropZone.addEventListener('drop', (ev) => {
  ev.preventDefault();
  setFiles(ev.dataTransfer.files);
});
// A drop that misses the zone would otherwise make the browser navigate to the file.
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', (ev) => ev.preventDefault());
$('file-input').addEventListener('change', (ev) => setFiles(ev.target.files));

// ---- options and running -----------------------------------------------------------------

function fillOptions(info) {
  const formats = $('opt-formats');
  formats.querySelectorAll('label').forEach((l) => l.remove());
  for (const f of info.formats || []) {
    const checked = (info.default_formats || []).includes(f);
    formats.append(el('label', {}, el('input', { type: 'checkbox', value: f, checked }), ` ${f}`));
  }
  const preset = $('opt-preset');
  preset.querySelectorAll('option:not([value=""])').forEach((o) => o.remove());
  for (const p of info.presets || []) preset.append(new Option(p, p));
}

$('options').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const mode = modeOf(state.files);
  if (!mode) return;
  const form = new FormData();
  for (const f of state.files) form.append('files', f);
  form.append('mode', mode);
  const faces = $('opt-faces').value.trim();
  if (faces) form.append('faces', faces);
  form.append('texture_size', $('opt-texture').value);
  const height = $('opt-height').value.trim();
  if (height) form.append('height', height);
  const formats = [...document.querySelectorAll('#opt-formats input:checked')].map((b) => b.value);
  if (!formats.length) {
    showBanner('Choose at least one format.');
    return;
  }
  form.append('formats', formats.join(','));
  form.append('preset', $('opt-preset').value);
  $('run').disabled = true;
  $('run').textContent = 'Uploading…';
  showBanner('');
  try {
    const job = await apiJson('v1/jobs', { method: 'POST', body: form });
    followJob(job);
    refreshJobs();
  } catch (err) {
    reportError(err);
  } finally {
    $('run').disabled = !modeOf(state.files);
    $('run').textContent = 'Make 3D';
  }
});

// ---- following a job ------------------------------------------------------------------------

const finished = (job) => job.state === 'done' || job.state === 'failed';

function stopFollowing() {
  if (!state.follow) return;
  state.follow.stopped = true;
  state.follow.abort.abort();
  state.follow = null;
}

function followJob(job) {
  stopFollowing();
  const follow = { id: job.id, abort: new AbortController(), stopped: false };
  state.follow = follow;
  showJob(job);
  if (!finished(job)) streamJob(follow).catch(() => pollJob(follow));
}

// Each SSE event carries the whole job, so a lost event costs nothing.
async function streamJob(follow) {
  const res = await api(`v1/jobs/${follow.id}/events`, {
    headers: { Accept: 'text/event-stream' },
    signal: follow.abort.signal,
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      const event = (block.split('\n').find((l) => l.startsWith('event:')) || 'event: job')
        .slice(6).trim();
      if (!data || event !== 'job' || follow.stopped) continue;
      last = JSON.parse(data);
      onJobUpdate(follow, last);
    }
  }
  // A stream that ends before the job does (a proxy timeout, say) hands over to polling.
  if (!follow.stopped && !(last && finished(last))) throw new Error('event stream ended early');
}

async function pollJob(follow) {
  while (!follow.stopped) {
    try {
      const job = await apiJson(`v1/jobs/${follow.id}`, { signal: follow.abort.signal });
      onJobUpdate(follow, job);
      if (finished(job)) return;
    } catch (err) {
      if (follow.stopped) return;
      if (err instanceof ApiError && (err.status === 404 || err.status === 401)) {
        reportError(err);
        return;
      }
      // Anything else (a restart, a flaky network) is worth another try.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function onJobUpdate(follow, job) {
  if (follow.stopped) return;
  showJob(job);
  if (finished(job)) {
    follow.stopped = true;
    refreshJobs();
  }
}

// ---- showing a job -----------------------------------------------------------------------------

function showProgress(job) {
  const p = job.progress || {};
  const stages = p.stages || [];
  const percent = job.state === 'done' ? 100 : Math.max(0, Math.min(100, p.percent || 0));
  $('status').hidden = false;
  $('empty').hidden = true;
  $('progress').value = percent;
  $('percent').textContent = `${Math.round(percent)}%`;
  const items = stages.map((name, i) => {
    let cls = 'pending';
    if (job.state === 'done' || i < p.stage_index) cls = 'done';
    else if (i === p.stage_index && job.state === 'running') cls = 'current';
    else if (i === p.stage_index && job.state === 'failed') cls = 'failed';
    const li = el('li', { className: cls, textContent: name });
    if (cls === 'current') li.setAttribute('aria-current', 'step');
    return li;
  });
  $('stages').replaceChildren(...items);
  let message = p.message || '';
  if (job.state === 'queued') {
    message = job.queue_position ? `Queued: ${job.queue_position} job(s) ahead.` : 'Queued.';
  } else if (job.state === 'running' && !message) {
    message = `Working: ${stages[p.stage_index] || ''}…`;
  } else if (job.state === 'done') {
    message = 'Done.';
  }
  $('message').textContent = message;
  $('job-error').hidden = job.state !== 'failed';
  $('job-error').textContent = `Failed: ${job.error?.message || 'unknown error'}`;
}

function showJob(job) {
  if (job.id !== state.shownJobId) {
    state.shownJobId = job.id;
    clearResult();
    markCurrentJob();
  }
  showProgress(job);
  if (job.state === 'done' && $('result').hidden) showResult(job).catch(reportError);
}

function clearResult() {
  state.objectUrls.forEach((u) => URL.revokeObjectURL(u));
  state.objectUrls.clear();
  const viewer = $('viewer');
  viewer.dataset.loaded = 'false';
  viewer.removeAttribute('src');
  viewer.removeAttribute('ios-src');
  $('result').hidden = true;
  $('stats').replaceChildren();
  $('downloads').replaceChildren();
}

async function showResult(job) {
  const files = job.files || [];
  const glb = files.find((f) => f.name.endsWith('.glb'));
  const usdz = files.find((f) => f.name.endsWith('.usdz'));
  $('result').hidden = false;
  showStats(job);
  showDownloads(files);
  const viewer = $('viewer');
  // The user may open another job while the files download; then these are stale.
  const iosSrc = usdz ? await fileUrl(usdz.url) : null;
  const src = glb ? await fileUrl(glb.url) : null;
  if (state.shownJobId !== job.id) return;
  if (iosSrc) viewer.setAttribute('ios-src', iosSrc);
  if (src) viewer.setAttribute('src', src);
  else $('message').textContent = 'Done. No GLB was asked for, so there is nothing to show here.';
}

const statRow = (term, text) =>
  el('div', {}, el('dt', { textContent: term }), el('dd', { textContent: text }));

function showStats(job) {
  const s = job.stats || {};
  const rows = [];
  if (s.faces != null) rows.push(statRow('Faces', s.faces.toLocaleString()));
  if (s.watertight != null) rows.push(statRow('Watertight', s.watertight ? 'yes' : 'no'));
  if (s.size_m) {
    rows.push(statRow('Size', s.size_m.map((v) => v.toFixed(3)).join(' × ') + ' m'));
  }
  const total = (job.timings || []).reduce((sum, t) => sum + (t.seconds || 0), 0);
  if (total) rows.push(statRow('Time', `${total.toFixed(1)} s`));
  const check = s.preset_check;
  if (check) {
    const verdict = check.passed ? 'passed' : `failed: ${(check.failures || []).join('; ')}`;
    rows.push(statRow(`Preset ${check.preset}`, verdict));
  }
  $('stats').replaceChildren(...rows);
}

function showDownloads(files) {
  const links = files.map((f) => {
    const a = el('a', {
      className: 'button',
      download: f.name,
      textContent: `${f.name} (${formatBytes(f.size || 0)})`,
      href: token() ? '#' : new URL(f.url, document.baseURI).href,
    });
    if (token()) {
      // With a token the file is fetched on first click, then the link is a plain blob link.
      a.addEventListener('click', async (ev) => {
        if (a.href.startsWith('blob:')) return;
        ev.preventDefault();
        try {
          a.href = await fileUrl(f.url);
          a.click();
        } catch (err) {
          reportError(err);
        }
      });
    }
    return a;
  });
  $('downloads').replaceChildren(...links);
}

const viewer = $('viewer');
viewer.addEventListener('load', () => {
  viewer.dataset.loaded = 'true';
});
viewer.addEventListener('error', (ev) => {
  showBanner(`The viewer could not show the model (${ev.detail?.type || 'error'}).`);
});

// ---- past jobs ---------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function jobItem(job) {
  const inputs = job.inputs || [];
  const name = inputs.length
    ? inputs[0].name + (inputs.length > 1 ? ` +${inputs.length - 1}` : '') : job.id.slice(0, 8);
  const when = job.created ? timeFormat.format(new Date(job.created)) : '';
  const onclick = () => openJob(job.id);
  const open = el('button', { type: 'button', className: 'job-open', onclick },
    el('span', { className: `badge ${job.state}`, textContent: job.state }),
    el('span', { className: 'job-name', textContent: name, title: name }),
    el('time', { dateTime: job.created || '', textContent: when }));
  open.setAttribute('aria-label', `Open ${name}, ${job.state}, ${when}`);
  const del = el('button', {
    type: 'button', className: 'job-delete', textContent: '✕', title: `Delete ${name}`,
    onclick: () => deleteJob(job.id),
  });
  del.setAttribute('aria-label', `Delete ${name}`);
  const li = el('li', {}, open, del);
  li.dataset.id = job.id;
  return li;
}

async function openJob(id) {
  try {
    followJob(await apiJson(`v1/jobs/${id}`));
  } catch (err) {
    reportError(err);
  }
}

async function deleteJob(id) {
  try {
    await api(`v1/jobs/${id}`, { method: 'DELETE' });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) return reportError(err);
  }
  if (state.follow && state.follow.id === id) stopFollowing();
  if (state.shownJobId === id) {
    clearResult();
    state.shownJobId = null;
    $('status').hidden = true;
    $('empty').hidden = false;
  }
  refreshJobs();
}

function markCurrentJob() {
  for (const li of $('jobs').children) {
    const open = li.querySelector('.job-open');
    if (!open) continue;
    if (li.dataset.id === state.shownJobId) open.setAttribute('aria-current', 'true');
    else open.removeAttribute('aria-current');
  }
}

async function refreshJobs(more = false) {
  try {
    const cursor = more && state.nextCursor ? encodeURIComponent(state.nextCursor) : '';
    const page = await apiJson(`v1/jobs?limit=20${cursor ? `&cursor=${cursor}` : ''}`);
    const items = (page.jobs || []).map(jobItem);
    if (more) $('jobs').append(...items);
    else $('jobs').replaceChildren(...items);
    if (!$('jobs').children.length) {
      $('jobs').append(el('li', { className: 'muted', textContent: 'No jobs yet.' }));
    }
    state.nextCursor = page.next_cursor || null;
    $('jobs-more').hidden = !state.nextCursor;
    markCurrentJob();
  } catch (err) {
    reportError(err);
  }
}

$('jobs-refresh').addEventListener('click', () => refreshJobs());
$('jobs-more').addEventListener('click', () => refreshJobs(true));

// ---- start -------------------------------------------------------------------------------------

async function start() {
  showBanner('');
  try {
    state.info = await apiJson('v1/info');
  } catch (err) {
    reportError(err);
    return;
  }
  $('version').textContent = `v${state.info.version}`;
  fillOptions(state.info);
  if (state.files.length) setFiles(state.files);
  refreshJobs();
}

start();
