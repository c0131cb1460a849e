/* app.js - Nave's web view (issue #10; the contract is hub/ui.h).
 *
 * One ES module, no framework, no build step. The page is a shell
 * (index.html: top bar, login form, confirmation dialog, toast) and one view
 * at a time in <main>, chosen by the hash:
 *   #/fleet                 the clusters (server-side filter, sort, paging)
 *   #/apps                  the Applications (filter, paging)
 *   #/apps/NS/NAME[/TAB]    one Application: matrix, tree, revisions (+diff),
 *                           workflow, rollout
 *   #/rollouts              the rollouts in progress (waves and local ones)
 *
 * Data: GET /nave/v1/ui/... with the session cookie; actions POST with the
 * header X-Nave-UI: 1 (the hub's cross-site rule). A 401 anywhere brings the
 * login form back.
 *
 * Live: one EventSource on /nave/v1/ui/events. A "change" whose topics the
 * view on screen cares about schedules a re-fetch: debounced (~200 ms), never
 * more than one fetch in flight per view (a change during a fetch runs one
 * more afterwards). Views update in place: inputs are built once per view,
 * table rows are keyed and patched cell by cell (a cell is rebuilt only when
 * its data changed), so scroll position, focus and typed text survive.
 *
 * Safety: server data only ever reaches the DOM through textContent and
 * attribute setters (never innerHTML); no inline styles (CSP: style-src
 * 'self'), widths of progress bars are set through el.style.width, which the
 * CSP allows (CSSOM, not markup).
 */

const API = '/nave/v1/ui';
const REFRESH_DEBOUNCE_MS = 200;
const FILTER_DEBOUNCE_MS = 250;
const PAGE_SIZES = [25, 50, 100, 200];
const HEALTH_WORDS = ['healthy', 'progressing', 'failed', 'unknown'];
const nf = new Intl.NumberFormat('en-US');

/* ------------------------------------------------------------------------ */
/* DOM helpers                                                               */

/* h(tag, props, ...children): an element. props: class, text, testid,
 * dataset {k: v}, attrs {k: v} (set with setAttribute; never "style"), on
 * {event: fn}, and plain properties (href, type, value...). Children:
 * nodes, strings (text nodes), null/false (skipped), arrays (flattened). */
function h(tag, props, ...children)
{
	const el = document.createElement(tag);
	if (props) {
		for (const [k, v] of Object.entries(props)) {
			if (v === undefined || v === null || v === false)
				continue;
			if (k === 'class')
				el.className = v;
			else if (k === 'text')
				el.textContent = v;
			else if (k === 'testid')
				el.dataset.testid = v;
			else if (k === 'dataset')
				Object.assign(el.dataset, v);
			else if (k === 'attrs')
				for (const [a, av] of Object.entries(v)) {
					if (av !== undefined && av !== null && av !== false)
						el.setAttribute(a, av === true ? '' : String(av));
				}
			else if (k === 'on')
				for (const [ev, fn] of Object.entries(v))
					el.addEventListener(ev, fn);
			else
				el[k] = v;
		}
	}
	append(el, children);
	return el;
}

function append(el, children)
{
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(el, c);
		else if (c instanceof Node)
			el.appendChild(c);
		else
			el.appendChild(document.createTextNode(String(c)));
	}
}

/* The testid path of the focused element inside root, to find its twin after
 * root's content is rebuilt. */
function focusKey(root)
{
	const a = document.activeElement;
	if (!a || a === document.body || !root.contains(a))
		return null;
	const parts = [];
	for (let e = a; e && e !== root; e = e.parentElement) {
		if (e.dataset && (e.dataset.testid || e.dataset.name || e.dataset.key))
			parts.unshift(`[data-${e.dataset.key ? 'key' : e.dataset.testid ? 'testid' : 'name'}="${CSS.escape(e.dataset.key || e.dataset.testid || e.dataset.name)}"]`);
	}
	return parts.length ? parts.join(' ') : null;
}

function restoreFocus(root, key)
{
	if (!key)
		return;
	const el = root.querySelector(key);
	if (el && document.activeElement !== el)
		el.focus({ preventScroll: true });
}

/* patch(el, sig, build): rebuild el's children with build() only when sig (a
 * string describing the data shown) changed since the last time. Focus
 * inside el moves to the rebuilt twin. */
function patch(el, sig, build)
{
	if (el._sig === sig)
		return;
	el._sig = sig;
	const key = focusKey(el);
	el.replaceChildren();
	append(el, [build()]);
	restoreFocus(el, key);
}

/* keyedRows(tbody, items, keyOf, create, update): make tbody's rows match
 * items in order, reusing the row of the same key (create(item) makes a
 * new one, update(row, item) refreshes it). Rows are moved only when out of
 * place, so a focused row keeps its focus. */
function keyedRows(tbody, items, keyOf, create, update)
{
	const old = new Map();
	for (const tr of tbody.children)
		if (tr._key !== undefined)
			old.set(tr._key, tr);
	const wanted = [];
	for (const it of items) {
		const k = keyOf(it);
		let tr = old.get(k);
		if (tr)
			old.delete(k);
		else {
			tr = create(it);
			tr._key = k;
		}
		update(tr, it);
		wanted.push(tr);
	}
	for (const tr of old.values())
		tr.remove();
	for (const tr of [...tbody.children])
		if (tr._key === undefined)
			tr.remove();
	for (let i = 0; i < wanted.length; i++)
		if (tbody.children[i] !== wanted[i])
			tbody.insertBefore(wanted[i], tbody.children[i] || null);
}

function healthWord(w)
{
	return HEALTH_WORDS.includes(w) ? w : 'unknown';
}

/* A health badge: colour and word ("badge badge-<word>", ui.h). */
function badge(word, testid, label)
{
	const w = healthWord(word);
	return h('span', { class: `badge badge-${w}`, testid, text: label || w });
}

/* The health word of a Kubernetes-ish state or phase, for colouring. */
function stateHealth(s)
{
	const v = String(s || '').toLowerCase();
	if (['available', 'succeeded', 'rolloutsucceed', 'running', 'healthy', 'true', 'accepted', 'batchready'].includes(v))
		return 'healthy';
	if (['failed', 'halted', 'aborted', 'denied', 'unavailable', 'rolloutfailed', 'rollingback', 'rollbacksucceed',
		'workflowfailed', 'workflowterminated', 'unhealthy', 'terminated', 'false', 'batchverifyfailed'].includes(v))
		return 'failed';
	if (['progressing', 'updating', 'soaking', 'executing', 'running', 'rollinginbatches',
		'initializing', 'verifyingspec', 'finalising', 'suspending', 'runningworkflow', 'rendering',
		'workflowsuspending', 'deleting'].includes(v))
		return 'progressing';
	return 'unknown';
}

function stateBadge(s, testid)
{
	const w = /^paused$/i.test(String(s || '')) ? 'paused' : stateHealth(s);
	return h('span', { class: `badge badge-${w}`, testid, text: s || 'unknown' });
}

/* A ManagedCluster's state: Pending (waits for the admin) amber,
 * Accepted (not joined yet) blue, Denied grey. */
function clusterBadge(s)
{
	const cls = { Available: 'healthy', Unavailable: 'failed', Accepted: 'progressing', Pending: 'paused', Denied: 'unknown' }[s] || 'unknown';
	return h('span', { class: `badge badge-${cls}`, testid: 'cluster-state', text: s || 'Unknown' });
}

function fmtInt(n)
{
	return n === null || n === undefined ? '—' : nf.format(n);
}

/* "12 s ago", "in 3 d": the distance between now and an RFC 3339 time. */
function relTime(iso)
{
	if (!iso)
		return '—';
	const t = Date.parse(iso);
	if (Number.isNaN(t))
		return String(iso);
	let s = Math.round((Date.now() - t) / 1000);
	const future = s < 0;
	s = Math.abs(s);
	let v;
	if (s < 60)
		v = `${s} s`;
	else if (s < 3600)
		v = `${Math.floor(s / 60)} min`;
	else if (s < 86400 * 2)
		v = `${Math.floor(s / 3600)} h`;
	else
		v = `${Math.floor(s / 86400)} d`;
	return future ? `in ${v}` : `${v} ago`;
}

/* A <time> that keeps its relative text current (see tickTimes). */
function timeEl(iso, cls)
{
	if (!iso)
		return h('span', { class: 'muted', text: '—' });
	return h('time', { class: `rel ${cls || ''}`, dateTime: iso, title: iso, text: relTime(iso) });
}

function tickTimes()
{
	for (const t of document.querySelectorAll('time.rel'))
		t.textContent = relTime(t.dateTime);
}

function pageText(offset, count, total)
{
	if (!total)
		return '0 of 0';
	return `${nf.format(offset + 1)}-${nf.format(offset + count)} of ${nf.format(total)}`;
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                      */

class HttpError extends Error {
	constructor(status, message)
	{
		super(message);
		this.status = status;
	}
}

async function errorOf(res)
{
	let msg = `${res.status} ${res.statusText}`;
	try {
		const j = await res.json();
		if (j && typeof j.message === 'string' && j.message)
			msg = j.message;
	} catch (e) {
		/* not JSON: keep the status line */
	}
	return new HttpError(res.status, msg);
}

/* GET a JSON view; a 401 ends the session on the page. */
async function getJSON(url, signal)
{
	const res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal });
	if (res.status === 401) {
		sessionLost();
		throw new HttpError(401, 'session expired');
	}
	if (!res.ok)
		throw await errorOf(res);
	return res.json();
}

/* POST an action with the cross-site header. */
async function post(url, body)
{
	const opts = { method: 'POST', credentials: 'same-origin', headers: { 'X-Nave-UI': '1', Accept: 'application/json' } };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	const res = await fetch(url, opts);
	if (res.status === 401 && !url.endsWith('/ui/login')) {
		sessionLost();
		throw new HttpError(401, 'session expired');
	}
	if (!res.ok)
		throw await errorOf(res);
	try {
		return await res.json();
	} catch (e) {
		return null;
	}
}

function qs(params)
{
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		if (v !== undefined && v !== null && v !== '')
			u.set(k, String(v));
	const s = u.toString();
	return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

/* ------------------------------------------------------------------------ */
/* Toast, confirmation                                                       */

let toastTimer = 0;

function toast(message, kind)
{
	const t = document.getElementById('toast');
	t.textContent = message;
	t.className = `toast toast-${kind || 'ok'}`;
	t.dataset.kind = kind || 'ok';
	t.hidden = false;
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'error' ? 12000 : 6000);
}

/* Ask in the accessible <dialog>; resolves true for OK. Escape cancels. */
function confirmDialog(title, text, okLabel)
{
	const d = document.getElementById('confirm');
	document.getElementById('confirm-title').textContent = title;
	document.getElementById('confirm-text').textContent = text;
	document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
	const back = document.activeElement;
	return new Promise((resolve) => {
		d.returnValue = 'cancel';
		d.addEventListener('close', () => {
			resolve(d.returnValue === 'ok');
			if (back && back.isConnected)
				back.focus();
		}, { once: true });
		d.showModal();
		document.getElementById('confirm-cancel').focus();
	});
}

/* ------------------------------------------------------------------------ */
/* Refresh scheduling                                                        */

/* Loader: runs load() (async, returns nothing) at most once at a time;
 * schedule() coalesces requests within REFRESH_DEBOUNCE_MS, and a request
 * during a run makes exactly one more run afterwards. */
class Loader {
	constructor(load)
	{
		this.load = load;
		this.timer = 0;
		this.running = false;
		this.again = false;
		this.dead = false;
	}

	schedule(delay = REFRESH_DEBOUNCE_MS)
	{
		if (this.dead)
			return;
		if (this.running) {
			this.again = true;
			return;
		}
		if (this.timer)
			return;
		this.timer = setTimeout(() => { this.timer = 0; this.run(); }, delay);
	}

	now()
	{
		clearTimeout(this.timer);
		this.timer = 0;
		this.run();
	}

	async run()
	{
		if (this.dead)
			return;
		if (this.running) {
			this.again = true;
			return;
		}
		this.running = true;
		this.again = false;
		try {
			await this.load();
		} finally {
			this.running = false;
			if (this.again && !this.dead)
				this.schedule();
		}
	}

	stop()
	{
		this.dead = true;
		clearTimeout(this.timer);
	}
}

/* A debounced input handler. */
function debounce(fn, ms)
{
	let t = 0;
	const d = (...a) => {
		clearTimeout(t);
		t = setTimeout(() => fn(...a), ms);
	};
	d.cancel = () => clearTimeout(t);
	return d;
}

/* ------------------------------------------------------------------------ */
/* Shared widgets                                                            */

/* An error line of a view (kept until the next successful load). */
function errorBox()
{
	return h('p', { class: 'view-error', attrs: { role: 'alert' }, hidden: true });
}

function showError(box, err)
{
	if (!err) {
		box.hidden = true;
		box.textContent = '';
		return;
	}
	box.hidden = false;
	box.textContent = `Could not load: ${err.message}`;
}

/* The pager: "1-100 of 1,000", previous/next and the page size. */
function pager(state, onChange, countTestid)
{
	const count = h('span', { class: 'pager-count', testid: countTestid, attrs: { 'aria-live': 'polite' } });
	const prev = h('button', { type: 'button', class: 'btn btn-small', text: '‹ Prev', attrs: { 'aria-label': 'Previous page' } });
	const next = h('button', { type: 'button', class: 'btn btn-small', text: 'Next ›', attrs: { 'aria-label': 'Next page' } });
	const size = h('select', { class: 'pager-size', attrs: { 'aria-label': 'Rows per page' } },
		PAGE_SIZES.map((n) => h('option', { value: String(n), text: `${n} / page` })));
	size.value = String(state.limit);
	prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); onChange(); });
	next.addEventListener('click', () => { state.offset += state.limit; onChange(); });
	size.addEventListener('change', () => { state.limit = Number(size.value); state.offset = 0; onChange(); });
	const el = h('div', { class: 'pager' }, count, prev, next, size);
	el.update = (total, shown) => {
		count.textContent = pageText(state.offset, shown, total);
		prev.disabled = state.offset <= 0;
		next.disabled = state.offset + shown >= total;
	};
	return el;
}

/* A progress bar of the wave's summary: succeeded, failed, updating,
 * pending as coloured segments, with the same numbers in text. */
function summaryBar(s)
{
	s = s || {};
	const total = s.total || 0;
	const bar = h('div', { class: 'bar', attrs: { role: 'img', 'aria-label': summaryText(s) } });
	for (const [k, cls] of [['succeeded', 'healthy'], ['failed', 'failed'], ['updating', 'progressing'], ['pending', 'unknown']]) {
		const n = s[k] || 0;
		if (!n || !total)
			continue;
		const seg = h('span', { class: `bar-seg bar-${cls}` });
		seg.style.width = `${(100 * n) / total}%`;
		bar.appendChild(seg);
	}
	return h('div', { class: 'summary' }, bar, h('span', { class: 'summary-text', testid: 'rollout-summary', text: summaryText(s) }));
}

function summaryText(s)
{
	s = s || {};
	return `${fmtInt(s.succeeded || 0)} of ${fmtInt(s.total || 0)} succeeded · ${fmtInt(s.failed || 0)} failed · ` +
		`${fmtInt(s.updating || 0)} updating · ${fmtInt(s.pending || 0)} pending`;
}

/* "batch 2 of 3" and a small per-batch bar. currentBatch counts from 0. */
function batchEl(lr)
{
	if (!lr || lr.numBatches === undefined || lr.numBatches === null)
		return h('span', { class: 'muted', testid: 'rollout-batch', text: '—' });
	const n = lr.numBatches || 0;
	const cur = Math.min((lr.currentBatch || 0) + 1, Math.max(n, 1));
	const done = lr.state === 'rolloutSucceed' || lr.state === 'finalising';
	const failed = stateHealth(lr.state) === 'failed';
	const bar = h('span', { class: 'batches', attrs: { 'aria-hidden': 'true' } });
	for (let i = 0; i < n && i < 100; i++) {
		let cls = 'todo';
		if (done || i < cur - 1)
			cls = 'done';
		else if (i === cur - 1)
			cls = failed ? 'fail' : 'now';
		bar.appendChild(h('span', { class: `batch batch-${cls}` }));
	}
	const replicas = lr.targetSize !== undefined && lr.targetSize !== null ?
		` · ${fmtInt(lr.upgradedReadyReplicas || 0)}/${fmtInt(lr.targetSize)} ready` : '';
	return h('span', { class: 'batch-cell' },
		h('span', { testid: 'rollout-batch', text: `batch ${cur} of ${n}` }), bar,
		h('span', { class: 'muted small', text: replicas }));
}

function reasonText(reason, message)
{
	if (reason && message)
		return `${reason}: ${message}`;
	return reason || message || '';
}

/* A table inside a horizontally scrolling wrapper. */
function table(testid, headers, tbody, caption)
{
	const thead = h('thead', null, h('tr', null, headers.map((x) => (x instanceof Node ? h('th', { attrs: { scope: 'col' } }, x) :
		h('th', { attrs: { scope: 'col' }, text: x })))));
	const t = h('table', { class: 'table', testid }, caption ? h('caption', { class: 'sr-only', text: caption }) : null, thead, tbody);
	return h('div', { class: 'table-wrap' }, t);
}

function emptyRow(tbody, cols, text)
{
	const tr = h('tr', { class: 'empty' }, h('td', { attrs: { colspan: cols }, text }));
	tbody.appendChild(tr);
}

/* Rows that open something: Enter (and click outside a control) follows
 * the row's link. */
function linkRow(tr, href)
{
	tr.tabIndex = 0;
	tr.classList.add('link-row');
	tr._href = href;
	tr.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && ev.target === tr)
			location.hash = tr._href;
	});
	tr.addEventListener('click', (ev) => {
		if (!ev.target.closest('a,button,input,select'))
			location.hash = tr._href;
	});
}

/* ------------------------------------------------------------------------ */
/* Fleet                                                                     */

const fleetState = { q: '', state: 'all', sort: 'name', offset: 0, limit: 100 };

function fleetView(root)
{
	const st = fleetState;
	const err = errorBox();
	const filter = h('input', { type: 'search', class: 'filter', testid: 'cluster-filter', value: st.q, placeholder: 'Filter: name or label=value',
		attrs: { 'aria-label': 'Filter clusters by name or label=value', 'data-filter': '' } });
	const stateSel = h('select', { testid: 'cluster-state-filter', attrs: { 'aria-label': 'Cluster state' } },
		['all', 'available', 'unavailable', 'pending', 'denied'].map((s) => h('option', { value: s, text: `State: ${s}` })));
	stateSel.value = st.state;
	const sortSel = h('select', { testid: 'cluster-sort', attrs: { 'aria-label': 'Sort clusters by' } },
		[['name', 'Sort: name'], ['state', 'Sort: state'], ['heartbeat', 'Sort: last heartbeat']].map(([v, t]) => h('option', { value: v, text: t })));
	sortSel.value = st.sort;
	const tbody = h('tbody');
	const pg = pager(st, () => loader.now(), 'cluster-count');
	const reload = () => { st.offset = 0; loader.now(); };
	const onFilter = debounce(() => { st.q = filter.value.trim(); reload(); }, FILTER_DEBOUNCE_MS);
	filter.addEventListener('input', onFilter);
	stateSel.addEventListener('change', () => { st.state = stateSel.value; reload(); });
	sortSel.addEventListener('change', () => { st.sort = sortSel.value; reload(); });

	const sortButtons = [];
	const sortHead = (label, key) => {
		const b = h('button', { type: 'button', class: 'th-sort', text: label, testid: `cluster-sort-${key}`, dataset: { sort: key },
			title: `Sort by ${label.toLowerCase()}`, on: { click: () => { st.sort = key; sortSel.value = key; reload(); } } });
		sortButtons.push(b);
		return b;
	};
	const showSort = () => {
		for (const b of sortButtons) {
			const on = b.dataset.sort === st.sort;
			b.classList.toggle('sorted', on);
			if (on)
				b.parentElement.setAttribute('aria-sort', b.dataset.sort === 'heartbeat' ? 'descending' : 'ascending');
			else
				b.parentElement.removeAttribute('aria-sort');
		}
	};
	root.replaceChildren(
		h('div', { class: 'view-head' }, h('h1', { text: 'Fleet' }), h('p', { class: 'muted', text: 'Managed clusters: acceptance, availability, claims and works.' })),
		h('div', { class: 'toolbar' }, filter, stateSel, sortSel, pg),
		err,
		table('cluster-table', [sortHead('Name', 'name'), sortHead('State', 'state'), 'Labels', 'Kubernetes', 'Nodes',
			sortHead('Last heartbeat', 'heartbeat'), 'Certificate expiry', 'Works', 'Actions'], tbody, 'Managed clusters'));

	const create = (c) => {
		const tr = h('tr', { testid: 'cluster-row', dataset: { name: c.name, key: c.name } });
		for (let i = 0; i < 9; i++)
			tr.appendChild(h('td'));
		tr.cells[0].className = 'cell-name';
		return tr;
	};
	const update = (tr, c) => {
		const cells = tr.cells;
		const note = c.state !== 'Available' ? c.message || '' : '';
		cells[0].title = c.message || '';
		patch(cells[0], c.name + '\0' + note, () => [h('span', { class: 'name', text: c.name }),
			note ? h('div', { class: 'muted small', testid: 'cluster-message', text: note }) : null]);
		patch(cells[1], c.state + (c.pendingRegistration ? '+reg' : ''), () => [clusterBadge(c.state),
			c.pendingRegistration && c.state !== 'Pending' ? h('span', { class: 'muted small', text: ' registration waits' }) : null]);
		patch(cells[2], JSON.stringify(c.labels || {}), () => h('span', { class: 'labels' },
			Object.entries(c.labels || {}).map(([k, v]) => h('span', { class: 'label', title: `${k}=${v}`, text: `${k}=${v}` }))));
		cells[3].title = Object.entries(c.claims || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
		patch(cells[3], c.kubernetesVersion || '', () => c.kubernetesVersion || '—');
		patch(cells[4], String(c.nodes), () => fmtInt(c.nodes));
		patch(cells[5], c.lastHeartbeat || '', () => timeEl(c.lastHeartbeat));
		const left = c.certificateExpiry ? Date.parse(c.certificateExpiry) - Date.now() : NaN;
		const certCls = left <= 0 ? 'expired' : left < 7 * 86400000 ? 'warn' : '';
		patch(cells[6], (c.certificateExpiry || '') + certCls, () => (c.certificateExpiry ?
			h('span', { class: certCls }, certCls === 'expired' ? 'expired ' : '', timeEl(c.certificateExpiry), certCls === 'warn' ? ' (soon)' : '') :
			h('span', { class: 'muted', text: '—' })));
		patch(cells[7], String(c.works), () => fmtInt(c.works));
		const pending = c.pendingRegistration || c.state === 'Pending';
		patch(cells[8], String(pending), () => (pending ? h('span', { class: 'actions' },
			h('button', { type: 'button', class: 'btn btn-small btn-primary', testid: 'cluster-accept', text: 'Accept',
				attrs: { 'aria-label': `Accept cluster ${c.name}` }, on: { click: (ev) => clusterAction(ev.currentTarget, c.name, 'accept') } }),
			h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: 'cluster-deny', text: 'Deny',
				attrs: { 'aria-label': `Deny cluster ${c.name}` }, on: { click: (ev) => clusterAction(ev.currentTarget, c.name, 'deny') } })) : ''));
	};

	async function clusterAction(btn, name, verb)
	{
		btn.disabled = true;
		try {
			await post(`/nave/v1/clusters/${enc(name)}/${verb}`);
			toast(`Cluster ${name}: ${verb === 'accept' ? 'accepted' : 'denied'}`, 'ok');
			loader.schedule();
		} catch (e) {
			toast(`Cluster ${name}: ${verb} failed: ${e.message}`, 'error');
		} finally {
			btn.disabled = false;
		}
	}

	const loader = new Loader(async () => {
		const want = { q: st.q, state: st.state === 'all' ? '' : st.state, sort: st.sort, offset: st.offset, limit: st.limit };
		try {
			const d = await getJSON(`${API}/clusters${qs(want)}`);
			if (loader.dead)
				return;
			if (d.total > 0 && st.offset >= d.total) {	/* the page vanished: go to the last one */
				st.offset = Math.max(0, Math.floor((d.total - 1) / st.limit) * st.limit);
				loader.again = true;
				return;
			}
			const counts = d.counts || {};
			for (const o of stateSel.options)
				if (counts[o.value] !== undefined)
					o.textContent = `State: ${o.value} (${nf.format(counts[o.value])})`;
			const items = d.items || [];
			keyedRows(tbody, items, (c) => c.name, create, update);
			if (!items.length)
				emptyRow(tbody, 9, st.q || st.state !== 'all' ? 'No cluster matches the filter.' : 'No clusters yet.');
			pg.update(d.total || 0, items.length);
			showSort();
			showError(err, null);
		} catch (e) {
			if (!loader.dead && e.status !== 401)
				showError(err, e);
		}
	});
	loader.now();
	return { topics: ['clusters', 'works'], loader, filter };
}

/* ------------------------------------------------------------------------ */
/* Applications                                                              */

const appsState = { q: '', health: 'all', offset: 0, limit: 100 };

function rolloutCell(r)
{
	if (!r)
		return h('span', { class: 'muted', text: '—' });
	return h('span', { class: 'rollout-mini' },
		stateBadge(r.paused && !/^paused$/i.test(r.phase || '') ? `${r.phase} (paused)` : r.phase),
		r.summary && r.summary.total ? h('span', { class: 'small muted', text: ` ${fmtInt(r.summary.succeeded || 0)}/${fmtInt(r.summary.total)} ${r.kind === 'local' ? 'local' : 'clusters'}` }) : null);
}

function appsView(root)
{
	const st = appsState;
	const err = errorBox();
	const filter = h('input', { type: 'search', class: 'filter', testid: 'app-filter', value: st.q, placeholder: 'Filter applications',
		attrs: { 'aria-label': 'Filter applications by name', 'data-filter': '' } });
	const healthSel = h('select', { testid: 'app-health-filter', attrs: { 'aria-label': 'Health' } },
		['all', ...HEALTH_WORDS].map((s) => h('option', { value: s, text: `Health: ${s}` })));
	healthSel.value = st.health;
	const tbody = h('tbody');
	const pg = pager(st, () => loader.now(), 'app-count');
	const onFilter = debounce(() => { st.q = filter.value.trim(); st.offset = 0; loader.now(); }, FILTER_DEBOUNCE_MS);
	filter.addEventListener('input', onFilter);
	healthSel.addEventListener('change', () => { st.health = healthSel.value; st.offset = 0; loader.now(); });
	root.replaceChildren(
		h('div', { class: 'view-head' }, h('h1', { text: 'Applications' }), h('p', { class: 'muted', text: 'Every application with its revision, health and rollout.' })),
		h('div', { class: 'toolbar' }, filter, healthSel, pg),
		err,
		table('app-table', ['Application', 'Namespace', 'Revision', 'Health', 'Phase', 'Clusters', 'Services healthy', 'Rollout', 'Updated'], tbody, 'Applications'));

	const create = (a) => {
		const key = `${a.namespace}/${a.name}`;
		const tr = h('tr', { testid: 'app-row', dataset: { name: key, key } });
		for (let i = 0; i < 9; i++)
			tr.appendChild(h('td'));
		linkRow(tr, `#/apps/${enc(a.namespace)}/${enc(a.name)}`);
		return tr;
	};
	const update = (tr, a) => {
		const c = tr.cells;
		const href = `#/apps/${enc(a.namespace)}/${enc(a.name)}`;
		patch(c[0], a.name + '\0' + (a.message || ''), () => [h('a', { href, class: 'name', text: a.name, tabIndex: -1 }),
			a.message ? h('div', { class: 'muted small clip', title: a.message, text: a.message }) : null]);
		patch(c[1], a.namespace, () => a.namespace);
		patch(c[2], a.revision || '', () => a.revision || '—');
		patch(c[3], a.health, () => badge(a.health, 'app-health'));
		patch(c[4], a.phase || '', () => a.phase || '—');
		patch(c[5], String(a.clusters), () => fmtInt(a.clusters));
		patch(c[6], `${a.healthyServices}/${a.services}`, () => `${fmtInt(a.healthyServices)}/${fmtInt(a.services)}`);
		patch(c[7], JSON.stringify(a.rollout), () => rolloutCell(a.rollout));
		patch(c[8], a.updated || '', () => timeEl(a.updated));
	};

	const loader = new Loader(async () => {
		const want = { q: st.q, health: st.health === 'all' ? '' : st.health, offset: st.offset, limit: st.limit };
		try {
			const d = await getJSON(`${API}/applications${qs(want)}`);
			if (loader.dead)
				return;
			if (d.total > 0 && st.offset >= d.total) {
				st.offset = Math.max(0, Math.floor((d.total - 1) / st.limit) * st.limit);
				loader.again = true;
				return;
			}
			const counts = d.counts || {};
			for (const o of healthSel.options)
				if (counts[o.value] !== undefined)
					o.textContent = `Health: ${o.value} (${nf.format(counts[o.value])})`;
			const items = d.items || [];
			keyedRows(tbody, items, (a) => `${a.namespace}/${a.name}`, create, update);
			if (!items.length)
				emptyRow(tbody, 9, st.q || st.health !== 'all' ? 'No application matches the filter.' : 'No applications yet.');
			pg.update(d.total || 0, items.length);
			showError(err, null);
		} catch (e) {
			if (!loader.dead && e.status !== 401)
				showError(err, e);
		}
	});
	loader.now();
	return { topics: ['applications', 'works', 'clusters'], loader, filter };
}

/* ------------------------------------------------------------------------ */
/* One application                                                           */

const TABS = [['matrix', 'Matrix'], ['tree', 'Resource tree'], ['revisions', 'Revisions'], ['workflow', 'Workflow'], ['rollout', 'Rollout']];
const detailMemory = new Map();	/* "ns/name" -> {tab, clusterQ, clusterOffset, from, to} */

function appDetailView(root, ns, name, tab)
{
	const key = `${ns}/${name}`;
	const mem = detailMemory.get(key) || { tab: 'matrix', clusterQ: '', clusterOffset: 0, clusterLimit: 50, from: '', to: '' };
	detailMemory.set(key, mem);
	if (tab && TABS.some(([t]) => t === tab))
		mem.tab = tab;
	let data = null;
	const err = errorBox();

	const title = h('h1', null, h('a', { href: '#/apps', class: 'crumb', text: 'Applications' }), ' / ',
		h('span', { class: 'muted', text: `${ns} / ` }), h('span', { text: name }));
	const header = h('div', { class: 'app-header' });
	const tabButtons = TABS.map(([t, label]) => h('button', { type: 'button', class: 'tab', testid: `tab-${t}`, id: `tab-${t}`, text: label,
		attrs: { role: 'tab', 'aria-controls': `panel-${t}` }, on: { click: () => selectTab(t, true) } }));
	const tablist = h('div', { class: 'tabs', attrs: { role: 'tablist', 'aria-label': 'Application views' } }, tabButtons);
	tablist.addEventListener('keydown', (ev) => {
		const i = TABS.findIndex(([t]) => t === mem.tab);
		let j = -1;
		if (ev.key === 'ArrowRight')
			j = (i + 1) % TABS.length;
		else if (ev.key === 'ArrowLeft')
			j = (i + TABS.length - 1) % TABS.length;
		else if (ev.key === 'Home')
			j = 0;
		else if (ev.key === 'End')
			j = TABS.length - 1;
		if (j < 0)
			return;
		ev.preventDefault();
		selectTab(TABS[j][0], true);
		tabButtons[j].focus();
	});
	const panels = {};
	for (const [t] of TABS)
		panels[t] = h('section', { class: 'panel', id: `panel-${t}`, attrs: { role: 'tabpanel', 'aria-labelledby': `tab-${t}` }, hidden: true });

	const detail = h('div', { class: 'app-detail', testid: 'app-detail', dataset: { name: key } },
		title, header, err, tablist, Object.values(panels));
	root.replaceChildren(detail);

	/* matrix: cluster filter and paging over clusters */
	const mFilter = h('input', { type: 'search', class: 'filter', testid: 'matrix-filter', value: mem.clusterQ, placeholder: 'Filter clusters',
		attrs: { 'aria-label': 'Filter the clusters of the matrix', 'data-filter': '' } });
	const mPagerState = { get offset() { return mem.clusterOffset; }, set offset(v) { mem.clusterOffset = v; },
		get limit() { return mem.clusterLimit; }, set limit(v) { mem.clusterLimit = v; } };
	const mPager = pager(mPagerState, () => loader.now(), 'matrix-count');
	mFilter.addEventListener('input', debounce(() => { mem.clusterQ = mFilter.value.trim(); mem.clusterOffset = 0; loader.now(); }, FILTER_DEBOUNCE_MS));
	const matrixBox = h('div');
	panels.matrix.append(h('div', { class: 'toolbar' }, mFilter, mPager), matrixBox);
	const treeBox = h('div', { class: 'tree-box' });
	panels.tree.append(h('p', { class: 'muted small', text: 'Resources by cluster and namespace (the same page of clusters as the matrix).' }), treeBox);
	const revBox = h('div');
	const diffBox = h('div', { class: 'diff-box' });
	panels.revisions.append(revBox, diffBox);
	const wfBox = h('div');
	panels.workflow.append(wfBox);
	const roBox = h('div');
	panels.rollout.append(roBox);

	function selectTab(t, fromUser)
	{
		mem.tab = t;
		for (const [i, [tt]] of TABS.entries()) {
			const on = tt === t;
			tabButtons[i].setAttribute('aria-selected', String(on));
			tabButtons[i].tabIndex = on ? 0 : -1;
			tabButtons[i].classList.toggle('active', on);
			panels[tt].hidden = !on;
		}
		if (fromUser) {
			const want = `#/apps/${enc(ns)}/${enc(name)}/${t}`;
			if (location.hash !== want)
				history.replaceState(null, '', want);
		}
		if (data)
			renderTab();
	}

	function renderHeader()
	{
		const a = data.app || {};
		const conds = data.conditions || [];
		patch(header, JSON.stringify([a, conds]), () => [
			h('div', { class: 'facts' },
				fact('Health', badge(a.health, 'app-health')),
				fact('Phase', h('span', { testid: 'app-phase', text: a.phase || '—' })),
				fact('Revision', h('span', { testid: 'app-revision', text: a.revision || '—' })),
				fact('Clusters', fmtInt(a.clusters)),
				fact('Services healthy', `${fmtInt(a.healthyServices)}/${fmtInt(a.services)}`),
				fact('Rollout', rolloutCell(a.rollout)),
				fact('Updated', timeEl(a.updated))),
			a.message ? h('p', { class: `app-message msg-${healthWord(a.health)}`, testid: 'app-message', text: a.message }) : null,
			conds.length ? conditionsEl(a, conds) : null,
		]);
	}

	/* The conditions, folded into one line ("Conditions: 5 True, 2 False")
	 * unless opened (remembered across refreshes); open by itself when the
	 * application failed. */
	function conditionsEl(a, conds)
	{
		const nTrue = conds.filter((c) => c.status === 'True').length;
		const nFalse = conds.filter((c) => c.status === 'False').length;
		const open = mem.condOpen !== undefined ? mem.condOpen : a.health === 'failed';
		const d = h('details', { class: 'conditions-box', open },
			h('summary', { text: `Conditions: ${nTrue} True${nFalse ? `, ${nFalse} False` : ''}${conds.length - nTrue - nFalse ? `, ${conds.length - nTrue - nFalse} Unknown` : ''}` }),
			h('ul', { class: 'conditions', testid: 'app-conditions', attrs: { 'aria-label': 'Conditions' } },
				conds.map((c) => {
					const bad = c.status === 'False' && a.health === 'failed';
					return h('li', { class: `cond cond-${c.status === 'True' ? 'true' : c.status === 'False' ? (bad ? 'false' : 'pending') : 'unknown'}`,
						title: [c.reason, c.message].filter(Boolean).join(': ') },
					h('span', { class: 'cond-mark', attrs: { 'aria-hidden': 'true' }, text: c.status === 'True' ? '✓' : c.status === 'False' ? (bad ? '✗' : '○') : '?' }),
					` ${c.type}: ${c.status}`, c.reason ? ` (${c.reason})` : '',
					c.message ? h('span', { class: 'muted', text: ` ${c.message}` }) : null);
				})));
		d.addEventListener('toggle', () => { mem.condOpen = d.open; });
		return d;
	}

	function renderTab()
	{
		if (mem.tab === 'matrix')
			renderMatrix();
		else if (mem.tab === 'tree')
			renderTree();
		else if (mem.tab === 'revisions')
			renderRevisions();
		else if (mem.tab === 'workflow')
			renderWorkflow();
		else
			renderRollout();
	}

	function renderMatrix()
	{
		const m = data.matrix || { components: [], clusters: [] };
		const comps = m.components || [];
		mPager.update(m.totalClusters || 0, (m.clusters || []).length);
		let tbody = matrixBox._tbody;
		if (!tbody || matrixBox._comps !== JSON.stringify(comps)) {
			tbody = h('tbody');
			matrixBox._tbody = tbody;
			matrixBox._comps = JSON.stringify(comps);
			const compInfo = new Map((data.components || []).map((c) => [c.name, c]));
			const heads = ['Cluster', ...comps.map((c) => {
				const ci = compInfo.get(c);
				return h('span', null, h('span', { text: c }), ci ? h('div', { class: 'muted small', text: [ci.type, ...(ci.traits || [])].join(' · ') }) : null);
			})];
			matrixBox.replaceChildren(table('matrix', heads, tbody, 'Components by cluster'));
		}
		const create = (cl) => {
			const tr = h('tr', { dataset: { key: cl.name }, testid: 'matrix-row' });
			tr.appendChild(h('th', { attrs: { scope: 'row' } }));
			for (let i = 0; i < comps.length; i++)
				tr.appendChild(h('td', { class: 'matrix-cell' }));
			return tr;
		};
		const update = (tr, cl) => {
			patch(tr.cells[0], cl.name + cl.available + cl.revision, () => [h('span', { class: 'name', text: cl.name }),
				h('div', { class: 'small muted' }, cl.available === 'True' ? 'available' : cl.available === 'False' ? 'unavailable' : 'availability unknown',
					cl.revision ? ` · ${cl.revision}` : '')]);
			comps.forEach((comp, i) => {
				const td = tr.cells[i + 1];
				const cell = (cl.cells || {})[comp];
				td.dataset.component = comp;
				td.dataset.cluster = cl.name;
				td.dataset.testid = 'matrix-cell';
				td.className = `matrix-cell cell-${cell ? healthWord(cell.health) : 'none'}`;
				patch(td, JSON.stringify(cell || null), () => {
					if (!cell)
						return h('span', { class: 'muted', title: 'no status of this component from this cluster', text: '—' });
					const counts = cell.desired !== null && cell.desired !== undefined ?
						`${fmtInt(cell.ready ?? 0)}/${fmtInt(cell.desired)}` : (cell.ready !== null && cell.ready !== undefined ? `${fmtInt(cell.ready)} ready` : '');
					const parts = [];
					if (cell.revision)
						parts.push(h('span', { class: 'cell-rev', text: cell.revision }), ' ');
					if (counts)
						parts.push(h('span', { class: 'cell-count', text: counts }), ' ');
					parts.push(badge(cell.health));
					return [h('span', { class: 'cell-main' }, parts),
						cell.message ? h('div', { class: 'small muted cell-msg', title: cell.message, text: cell.message }) : null];
				});
			});
		};
		keyedRows(tbody, m.clusters || [], (c) => c.name, create, update);
		if (!(m.clusters || []).length)
			emptyRow(tbody, comps.length + 1, mem.clusterQ ? 'No cluster of this application matches the filter.' : 'The application is on no cluster yet.');
	}

	function renderTree()
	{
		const tree = data.tree || [];
		patch(treeBox, JSON.stringify(tree), () => {
			if (!tree.length)
				return h('p', { class: 'muted', testid: 'tree', text: 'No resources yet.' });
			return h('ul', { class: 'tree', testid: 'tree', attrs: { 'aria-label': 'Resources by cluster and namespace' } }, tree.map(treeCluster));
		});
	}

	function treeCluster(c)
	{
		const byNs = new Map();
		for (const r of c.resources || []) {
			const n = r.namespace || '';
			if (!byNs.has(n))
				byNs.set(n, []);
			byNs.get(n).push(r);
		}
		const worst = worstHealth((c.resources || []).map((r) => r.health));
		const nsItems = [...byNs.entries()].map(([n, rs]) => h('li', { testid: 'tree-namespace', dataset: { namespace: n } },
			h('span', { class: 'tree-node' }, h('span', { class: 'kind', text: 'namespace' }), ' ', h('strong', { text: n || '(cluster-scoped)' })),
			h('ul', null, rs.map((r) => treeResource(c.cluster, r)))));
		return h('li', { testid: 'tree-cluster', dataset: { cluster: c.cluster } },
			h('span', { class: 'tree-node tree-cluster' }, h('span', { class: 'kind', text: 'cluster' }), ' ', h('strong', { text: c.cluster }), ' ', badge(worst)),
			h('ul', null, nsItems));
	}

	function treeResource(cluster, r)
	{
		return h('li', { testid: 'tree-resource', dataset: { cluster, name: `${r.kind}/${r.name}` } },
			h('span', { class: 'tree-node' },
				h('span', { class: 'res', text: `${r.kind}/${r.name}` }), ' ', badge(r.health),
				r.component ? h('span', { class: 'muted small', text: ` component ${r.component}` }) : null,
				r.apiVersion ? h('span', { class: 'muted small', text: ` · ${r.apiVersion}` }) : null,
				r.message ? h('div', { class: 'small tree-msg', text: r.message }) : null));
	}

	/* Revisions, newest first. The diff compares two of them: by default
	 * the newest with the one before (following new revisions); clicking a
	 * row (or Enter on it) compares that revision with the newest; the
	 * From/To radios pick any two. */
	function renderRevisions()
	{
		const revs = data.revisions || [];
		const names = new Set(revs.map((r) => r.name));
		if (!mem.pinned || !names.has(mem.from) || !names.has(mem.to)) {
			mem.pinned = false;
			const to = revs.length ? revs[0].name : '';
			const from = revs.length > 1 ? revs[1].name : '';
			if (to !== mem.to || from !== mem.from)
				diffBox._loaded = false;
			mem.to = to;
			mem.from = from;
		}
		patch(revBox, JSON.stringify(revs) + mem.from + mem.to, () => {
			const tbody = h('tbody');
			for (const r of revs) {
				const fromR = h('input', { type: 'radio', name: 'diff-from', value: r.name, checked: mem.from === r.name,
					attrs: { 'aria-label': `Compare from ${r.name}` }, dataset: { key: `from-${r.name}` } });
				const toR = h('input', { type: 'radio', name: 'diff-to', value: r.name, checked: mem.to === r.name,
					attrs: { 'aria-label': `Compare to ${r.name}` }, dataset: { key: `to-${r.name}` } });
				fromR.addEventListener('change', () => compare(r.name, mem.to));
				toR.addEventListener('change', () => compare(mem.from, r.name));
				const tr = h('tr', { testid: 'revision-row', dataset: { name: r.name, key: r.name },
					class: `link-row${r.inUse ? ' in-use' : ''}${r.name === mem.from || r.name === mem.to ? ' selected' : ''}`,
					tabIndex: 0, title: `Compare ${r.name} with the newest revision` },
				h('td', null, h('span', { class: 'name', text: r.name }), r.inUse ? h('span', { class: 'badge badge-tag tag', testid: 'revision-in-use', text: 'in use' }) : null),
				h('td', { text: String(r.revision ?? '') }),
				h('td', null, stateBadge(r.workflowPhase || (r.succeeded ? 'succeeded' : 'unknown')),
					r.succeeded ? h('span', { class: 'small muted', text: ' workflow succeeded' }) : null),
				h('td', null, h('code', { text: (r.hash || '').slice(0, 12), title: r.hash || '' })),
				h('td', { text: r.publishVersion || '—' }),
				h('td', null, timeEl(r.created)),
				h('td', { class: 'radio-cell' }, fromR),
				h('td', { class: 'radio-cell' }, toR));
				const pick = () => {
					const newest = revs[0].name;
					if (r.name === newest)
						compare(revs.length > 1 ? revs[1].name : newest, newest);
					else
						compare(r.name, newest);
				};
				tr.addEventListener('click', (ev) => { if (!ev.target.closest('input,a,button')) pick(); });
				tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && ev.target === tr) pick(); });
				tbody.appendChild(tr);
			}
			return [table('revision-table', ['Revision', '#', 'Workflow', 'Hash', 'Publish version', 'Created', 'From', 'To'], tbody, 'Revisions, newest first'),
				revs.length < 2 ? h('p', { class: 'muted', text: 'One revision only: nothing to compare.' }) :
					h('p', { class: 'muted small', text: 'Click a revision to compare it with the newest, or pick From and To.' })];
		});
		if (!diffBox._loaded && names.has(mem.from) && names.has(mem.to) && mem.from !== mem.to)
			loadDiff();
	}

	function compare(from, to)
	{
		mem.from = from;
		mem.to = to;
		mem.pinned = true;
		if (data)
			renderRevisions();
		loadDiff();
	}

	async function loadDiff()
	{
		diffBox._loaded = true;
		const seq = (diffBox._seq = (diffBox._seq || 0) + 1);
		const from = mem.from, to = mem.to;
		if (!from || !to)
			return;
		diffBox.setAttribute('aria-busy', 'true');
		try {
			const d = await getJSON(`${API}/applications/${enc(ns)}/${enc(name)}/diff${qs({ from, to })}`);
			if (seq === diffBox._seq)
				diffBox.replaceChildren(renderDiff(d));
		} catch (e) {
			if (e.status !== 401 && seq === diffBox._seq)
				diffBox.replaceChildren(h('p', { class: 'view-error', testid: 'diff-view', attrs: { role: 'alert' }, text: `Diff ${from} → ${to}: ${e.message}` }));
		} finally {
			if (seq === diffBox._seq)
				diffBox.removeAttribute('aria-busy');
		}
	}

	function renderWorkflow()
	{
		const wf = data.workflow;
		patch(wfBox, JSON.stringify(wf), () => {
			if (!wf)
				return h('p', { class: 'muted', text: 'No workflow has run yet.' });
			return [h('div', { class: 'facts' },
				fact('Phase', stateBadge(wf.phase, 'workflow-phase')),
				fact('Revision', wf.appRevision || '—'),
				fact('Mode', wf.mode || '—'),
				fact('Started', timeEl(wf.startTime)),
				wf.endTime ? fact('Ended', timeEl(wf.endTime)) : null,
				wf.suspend ? fact('Suspended', 'yes') : null,
				wf.terminated ? fact('Terminated', 'yes') : null),
			wf.message ? h('p', { class: `app-message msg-${stateHealth(wf.phase)}`, text: wf.message }) : null,
			h('ol', { class: 'steps', testid: 'workflow-steps' }, (wf.steps || []).map((s) => h('li', { class: `step step-${stateHealth(s.phase)}`, testid: 'workflow-step', dataset: { name: s.name } },
				h('div', { class: 'step-head' }, h('strong', { text: s.name }), h('span', { class: 'muted small', text: ` ${s.type || ''}` }), ' ', stateBadge(s.phase, 'workflow-step-phase')),
				s.reason || s.message ? h('div', { class: 'step-msg', text: reasonText(s.reason, s.message) }) : null,
				s.lastExecuteTime ? h('div', { class: 'muted small' }, 'last run ', timeEl(s.lastExecuteTime)) : null)))];
		});
	}

	function renderRollout()
	{
		patch(roBox, JSON.stringify([data.rollout, data.localRollouts, data.app && data.app.rollout]),
			() => rolloutPanel(ns, name, data.rollout, data.localRollouts || [], data.app && data.app.rollout, () => loader.schedule(0)));
	}

	const loader = new Loader(async () => {
		const want = { clusterQ: mem.clusterQ, clusterOffset: mem.clusterOffset, clusterLimit: mem.clusterLimit };
		try {
			const d = await getJSON(`${API}/applications/${enc(ns)}/${enc(name)}${qs(want)}`);
			if (loader.dead)
				return;
			data = d;
			renderHeader();
			renderTab();
			showError(err, null);
		} catch (e) {
			if (loader.dead || e.status === 401)
				return;
			showError(err, e);
		}
	});
	selectTab(mem.tab, false);
	loader.now();
	return {
		topics: ['applications', 'works', 'clusters', 'placements'],
		app: key,
		loader,
		filter: mFilter,
		setTab: (t) => { if (TABS.some(([x]) => x === t)) selectTab(t, false); },
	};
}

function fact(label, value)
{
	return h('div', { class: 'fact' }, h('div', { class: 'fact-label', text: label }), h('div', { class: 'fact-value' }, value));
}

function worstHealth(words)
{
	for (const w of ['failed', 'progressing', 'unknown'])
		if (words.includes(w))
			return w;
	return words.length ? 'healthy' : 'unknown';
}

/* Unified diff lines, coloured by their first character. */
function renderDiff(d)
{
	const head = h('div', { class: 'diff-head' }, h('strong', { text: `${d.from} → ${d.to}` }), d.equal ? h('span', { class: 'muted', text: ' (no difference)' }) : null);
	const pre = h('pre', { class: 'diff', testid: 'diff-view', attrs: { 'aria-label': `Difference from ${d.from} to ${d.to}` } });
	const text = d.diff || '';
	if (!text)
		pre.appendChild(h('span', { class: 'diff-line', text: d.equal ? 'The revisions are equal.' : '(empty)' }));
	for (const line of text.split('\n')) {
		if (line === '' && pre.lastChild && text.endsWith('\n'))
			continue;
		let cls = 'ctx';
		if (line.startsWith('+++') || line.startsWith('---'))
			cls = 'file';
		else if (line.startsWith('@@'))
			cls = 'hunk';
		else if (line.startsWith('+'))
			cls = 'add';
		else if (line.startsWith('-'))
			cls = 'del';
		pre.appendChild(h('span', { class: `diff-line diff-${cls}`, text: line }));
		pre.appendChild(document.createTextNode('\n'));
	}
	return h('div', null, head, pre);
}

/* ------------------------------------------------------------------------ */
/* Rollouts                                                                  */

/* The failed states of a wave, a cluster or a local rollout. */
function isFailed(s)
{
	return stateHealth(s) === 'failed';
}

/* The panel of one Application's rollout: the wave (status.rollout), its
 * clusters with their local rollouts, the local rollouts not in a wave, and
 * the buttons. row: the <rollout row> of the app (kind wave|local), for
 * the phase of a local-only rollout. refresh: called after an action. */
function rolloutPanel(ns, name, wave, locals, row, refresh)
{
	const key = `${ns}/${name}`;
	if (!wave && !(locals && locals.length) && !row)
		return h('div', { class: 'rollout-panel empty-panel', testid: 'rollout-panel', dataset: { name: key } },
			h('p', { class: 'muted', text: 'No rollout: this application has neither a nave-rollout policy nor a rollout trait in progress.' }),
			actionButtons(ns, name, null, refresh));
	const phase = (wave && wave.phase) || (row && row.phase) || (locals.length ? locals[0].state : 'unknown');
	const paused = !!((wave && wave.paused) || (row && row.paused));
	const message = (wave && wave.message) || (row && row.message) || '';
	const summary = (wave && wave.summary) || (row && row.summary) || null;
	const failed = isFailed(phase) || (wave && wave.aborted);
	const phaseEl = h('div', { class: 'rollout-phase', testid: 'rollout-phase' },
		h('span', { class: `badge badge-${failed ? 'failed' : /^paused$/i.test(phase) ? 'paused' : stateHealth(phase)}`, text: phase }),
		paused && !/^paused$/i.test(phase) ? [' ', h('span', { class: 'badge badge-paused', text: 'paused' })] : null,
		failed ? [' ', h('span', { class: 'badge badge-failed', testid: 'rollout-failed', text: 'failed' })] : null);
	const head = h('div', { class: 'rollout-head' },
		h('h2', null, h('a', { href: `#/apps/${enc(ns)}/${enc(name)}/rollout`, text: name }), h('span', { class: 'muted', text: ` in ${ns}` }),
			h('span', { class: 'muted small', text: ` ${wave ? `wave${wave.type ? ` (${wave.type})` : ''}` : 'local rollout'}${(wave && wave.revision) || (row && row.revision) ? ` → ${(wave && wave.revision) || row.revision}` : ''}` })),
		phaseEl);
	/* a failure is always explained: the wave's message, else the reason of
	 * the first failed cluster or local rollout */
	let why = message;
	if (failed && !why) {
		const fc = wave && (wave.clusters || []).find((c) => isFailed(c.state));
		const fl = (locals || []).find((l) => isFailed(l.state));
		why = fc ? `${fc.name}: ${reasonText(fc.reason, fc.message) || fc.state}` :
			fl ? `${fl.cluster}: local rollout ${fl.name || ''} ${fl.state}: ${reasonText(fl.reason, fl.message)}` : `the rollout ${phase}`;
	}
	const msg = h('p', { class: `rollout-message msg-${failed ? 'failed' : stateHealth(phase)}`, testid: 'rollout-message', text: why || '' });
	const localsBy = new Map();
	for (const l of locals || [])
		localsBy.set(l.cluster, l);
	let clusterTable = null;
	if (wave && wave.clusters && wave.clusters.length) {
		const tbody = h('tbody');
		for (const c of wave.clusters) {
			const lr = c.localRollout || localsBy.get(c.name) || null;
			const own = reasonText(c.reason, c.message);
			const local = lr ? (isFailed(lr.state) ? `local rollout ${lr.name || ''}: ${reasonText(lr.reason, lr.message)}` : lr.message || '') : '';
			/* the cluster's own reason says it; the local rollout's words are
			 * the fallback (and in full in the table below) */
			const why = [own || local, c.reachable === false ? 'cluster unreachable' : '']
				.filter(Boolean).join(' — ');
			tbody.appendChild(h('tr', { testid: 'rollout-cluster', dataset: { cluster: c.name }, class: isFailed(c.state) ? 'row-failed' : '' },
				h('th', { attrs: { scope: 'row' }, text: c.name }),
				h('td', { text: c.groupName ? `${c.groupName} (${c.group})` : String(c.group ?? '—') }),
				h('td', null, stateBadge(c.state, 'rollout-state')),
				h('td', { text: c.revision || '—' }),
				h('td', null, lr ? [batchEl(lr), ' ', stateBadge(lr.state)] : h('span', { class: 'muted', testid: 'rollout-batch', text: '—' })),
				h('td', { class: why && (isFailed(c.state) || (lr && isFailed(lr.state))) ? 'why why-failed' : 'why', text: why })));
		}
		clusterTable = h('div', null, h('h3', { text: 'Clusters of the wave' }),
			table('rollout-clusters', ['Cluster', 'Group', 'State', 'Revision', 'Local batch', 'Reason / message'], tbody, 'Clusters of the wave'));
	}
	let localTable = null;
	const extraLocals = locals || [];
	if (extraLocals.length) {
		const tbody = h('tbody');
		const inWave = new Set(wave ? (wave.clusters || []).map((c) => c.name) : []);
		for (const l of extraLocals) {
			/* rollout-cluster rows come from the wave; without one, the local rollouts carry them */
			const testid = inWave.has(l.cluster) ? 'local-rollout' : 'rollout-cluster';
			tbody.appendChild(h('tr', { testid, dataset: { cluster: l.cluster, name: l.name }, class: isFailed(l.state) ? 'row-failed' : '' },
				h('th', { attrs: { scope: 'row' }, text: l.cluster }),
				h('td', { text: l.name }),
				h('td', null, stateBadge(l.state, inWave.has(l.cluster) ? 'local-state' : 'rollout-state'), isFailed(l.state) ? h('span', { class: 'badge badge-failed tag', text: 'failed' }) : null),
				h('td', null, inWave.has(l.cluster) ? localBatch(l) : batchEl(l)),
				h('td', { text: `${fmtInt(l.upgradedReplicas)} upgraded, ${fmtInt(l.upgradedReadyReplicas)} ready of ${fmtInt(l.targetSize)}` }),
				h('td', { class: isFailed(l.state) ? 'why why-failed' : 'why', text: reasonText(l.reason, l.message) })));
		}
		localTable = h('div', null, h('h3', { text: 'Local rollouts inside clusters' }),
			table('local-rollouts', ['Cluster', 'Rollout', 'State', 'Batch', 'Replicas', 'Reason / message'], tbody, 'Local rollouts'));
	}
	return h('div', { class: `rollout-panel${failed ? ' panel-failed' : ''}`, testid: 'rollout-panel', dataset: { name: key } },
		head, msg, summary ? summaryBar(summary) : null, actionButtons(ns, name, { phase, paused, wave: !!wave }, refresh), clusterTable, localTable);
}

/* The batch of a local rollout shown a second time (its wave row has the
 * rollout-batch hook). */
function localBatch(l)
{
	const el = batchEl(l);
	const t = el.querySelector('[data-testid="rollout-batch"]');
	if (t)
		t.dataset.testid = 'local-batch';
	return el;
}

function actionButtons(ns, name, st, refresh)
{
	const url = (verb) => `/nave/v1/namespaces/${enc(ns)}/applications/${enc(name)}/rollout/${verb}`;
	const run = async (btn, verb, ask) => {
		if (ask && !(await confirmDialog(ask[0], ask[1], ask[2])))
			return;
		btn.disabled = true;
		try {
			await post(url(verb));
			toast(`${name}: rollout ${verb} done`, 'ok');
			refresh();
		} catch (e) {
			toast(`${name}: rollout ${verb} failed: ${e.message}`, 'error');
		} finally {
			btn.disabled = false;	/* the panel is rebuilt with the new state */
		}
	};
	/* what the hub would refuse (409) is disabled, with the reason as title:
	 * pause/resume/abort act on a wave in progress; rollback always works */
	const wave = !!(st && st.wave);
	const ended = wave && ['Succeeded', 'Halted', 'Aborted'].includes(st.phase);
	const noWave = 'this application has no cross-cluster wave (nave-rollout policy)';
	const mk = (verb, label, cls, ask, hint, off) => {
		const b = h('button', { type: 'button', class: `btn ${cls}`, testid: `rollout-${verb}`, text: label, title: off || hint,
			disabled: !!off, attrs: { 'aria-label': `${label} the rollout of ${name}` } });
		b.addEventListener('click', () => run(b, verb, ask));
		return b;
	};
	const why = !wave ? noWave : ended ? `the wave has ended (${st.phase})` : '';
	return h('div', { class: 'rollout-actions', attrs: { role: 'group', 'aria-label': 'Rollout actions' } },
		mk('pause', 'Pause', '', null, 'Release no further cluster (clusters in flight go on)', why || (st.paused ? 'already paused' : '')),
		mk('resume', 'Resume', wave && st.paused && !ended ? 'btn-primary' : '', null, 'Go on releasing clusters', why || (!st.paused ? 'not paused' : '')),
		mk('abort', 'Abort', 'btn-danger', ['Abort the rollout?', `Nothing more of ${ns}/${name} is released; its deploy step fails. Clusters not released keep their works.`, 'Abort rollout'],
			'Stop the wave for good', why),
		mk('rollback', 'Roll back', 'btn-danger', ['Roll back?', `${ns}/${name} goes back to its newest revision whose workflow succeeded, rolled out as a new wave.`, 'Roll back'],
			'Back to the last good revision', ''),
		why ? h('span', { class: 'muted small', text: ` ${why[0].toUpperCase()}${why.slice(1)}.` }) : null);
}

function rolloutsView(root)
{
	const err = errorBox();
	const overviewBox = h('div', { class: 'overview' });
	const listBox = h('div', { class: 'rollout-list' });
	const DETAILED = 10;
	root.replaceChildren(
		h('div', { class: 'view-head' }, h('h1', { text: 'Rollouts' }), h('p', { class: 'muted', text: 'Waves across clusters and batches inside them, live.' })),
		overviewBox, err, listBox);
	const panels = new Map();	/* key -> element */

	const loader = new Loader(async () => {
		try {
			const o = await getJSON(`${API}/overview`);
			if (loader.dead)
				return;
			renderOverview(o);
			const rows = o.rollouts || [];
			/* one request at a time, as every view */
			const details = [];
			for (const r of rows.slice(0, DETAILED)) {
				if (loader.dead)
					return;
				details.push(await getJSON(`${API}/applications/${enc(r.namespace)}/${enc(r.name)}${qs({ clusterLimit: 100 })}`)
					.catch((e) => ({ error: e })));
			}
			if (loader.dead)
				return;
			const want = [];
			rows.forEach((r, i) => {
				const key = `${r.namespace}/${r.name}`;
				let el = panels.get(key);
				if (!el) {
					el = h('div', { class: 'rollout-slot', dataset: { key } });
					panels.set(key, el);
				}
				const d = details[i];
				if (i < DETAILED && d && !d.error)
					patch(el, JSON.stringify([d.rollout, d.localRollouts, d.app && d.app.rollout]),
						() => rolloutPanel(r.namespace, r.name, d.rollout, d.localRollouts || [], d.app && d.app.rollout, () => loader.schedule(0)));
				else
					patch(el, JSON.stringify(r), () => rolloutPanel(r.namespace, r.name, null, [], r, () => loader.schedule(0)));
				want.push(el);
			});
			for (const [k, el] of panels)
				if (!want.includes(el)) {
					el.remove();
					panels.delete(k);
				}
			want.forEach((el, i) => {
				if (listBox.children[i] !== el)
					listBox.insertBefore(el, listBox.children[i] || null);
			});
			let empty = listBox.querySelector('.empty-list');
			if (!rows.length && !empty)
				listBox.appendChild(h('p', { class: 'muted empty-list', testid: 'rollouts-empty', text: 'No rollout in progress. Finished rollouts stay visible on each application\'s Rollout tab.' }));
			else if (rows.length && empty)
				empty.remove();
			showError(err, null);
		} catch (e) {
			if (!loader.dead && e.status !== 401)
				showError(err, e);
		}
	});

	function renderOverview(o)
	{
		const c = o.clusters || {}, a = o.applications || {};
		patch(overviewBox, JSON.stringify([c, a]), () => [
			h('a', { class: 'card', href: '#/fleet', testid: 'overview-clusters' }, h('div', { class: 'card-title', text: 'Clusters' }),
				h('div', { class: 'card-big', text: fmtInt(c.total) }),
				h('div', { class: 'card-line' }, badge('healthy', null, `${fmtInt(c.available)} available`), ' ',
					badge('failed', null, `${fmtInt(c.unavailable)} unavailable`), ' ', h('span', { class: 'badge badge-paused', text: `${fmtInt(c.pending)} pending` }), ' ',
					badge('unknown', null, `${fmtInt(c.denied)} denied`))),
			h('a', { class: 'card', href: '#/apps', testid: 'overview-apps' }, h('div', { class: 'card-title', text: 'Applications' }),
				h('div', { class: 'card-big', text: fmtInt(a.total) }),
				h('div', { class: 'card-line' }, HEALTH_WORDS.flatMap((w) => [badge(w, null, `${fmtInt(a[w])} ${w}`), ' ']))),
		]);
	}

	loader.now();
	return { topics: ['applications', 'works', 'clusters', 'placements'], loader, filter: null };
}

/* ------------------------------------------------------------------------ */
/* Router, session, live events                                              */

let current = null;	/* {route, view} */
let events = null;
let loggedIn = false;

function parseRoute()
{
	const p = (location.hash || '').replace(/^#\/?/, '').split('/').filter(Boolean).map((s) => {
		try {
			return decodeURIComponent(s);
		} catch (e) {
			return s;
		}
	});
	if (p[0] === 'apps' && p.length >= 3)
		return { name: 'app', ns: p[1], app: p[2], tab: p[3] || '' };
	if (p[0] === 'apps')
		return { name: 'apps' };
	if (p[0] === 'rollouts')
		return { name: 'rollouts' };
	return { name: 'fleet' };
}

function route()
{
	if (!loggedIn)
		return;
	const r = parseRoute();
	const main = document.getElementById('main');
	if (current && current.route.name === 'app' && r.name === 'app' && current.route.ns === r.ns && current.route.app === r.app) {
		if (r.tab)
			current.view.setTab(r.tab);
		current.route = r;
		return;
	}
	if (current)
		current.view.loader.stop();
	let view;
	if (r.name === 'app')
		view = appDetailView(main, r.ns, r.app, r.tab);
	else if (r.name === 'apps')
		view = appsView(main);
	else if (r.name === 'rollouts')
		view = rolloutsView(main);
	else
		view = fleetView(main);
	current = { route: r, view };
	for (const [id, n] of [['nav-fleet', 'fleet'], ['nav-apps', 'apps'], ['nav-rollouts', 'rollouts']]) {
		const a = document.getElementById(id);
		const on = n === r.name || (n === 'apps' && r.name === 'app');
		a.classList.toggle('active', on);
		if (on)
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
	document.title = `Nave · ${r.name === 'app' ? `${r.ns}/${r.app}` : { fleet: 'Fleet', apps: 'Applications', rollouts: 'Rollouts' }[r.name]}`;
	window.scrollTo(0, 0);
}

function setLive(state)
{
	const el = document.getElementById('live-status');
	el.textContent = state;
	el.dataset.state = state;
}

function startEvents()
{
	stopEvents();
	const es = new EventSource(`${API}/events`);
	events = es;
	setLive('reconnecting');
	es.addEventListener('open', () => { if (events === es) setLive('live'); });
	es.addEventListener('hello', () => {
		if (events !== es)
			return;
		setLive('live');
		/* a (re)connection may have missed changes */
		if (es._seen && current)
			current.view.loader.schedule();
		es._seen = true;
	});
	es.addEventListener('change', (ev) => {
		if (events !== es || !current)
			return;
		setLive('live');
		let d;
		try {
			d = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		const v = current.view;
		const topics = Array.isArray(d.topics) ? d.topics : [];
		if (!topics.some((t) => v.topics.includes(t)))
			return;
		/* one application on screen: skip changes of other applications only */
		if (v.app && topics.every((t) => t === 'applications') && Array.isArray(d.apps) && !d.apps.includes(v.app))
			return;
		if (v.onChange)
			v.onChange(d);
		v.loader.schedule();
	});
	es.addEventListener('error', () => {
		if (events !== es)
			return;
		setLive('reconnecting');
		if (es.readyState === EventSource.CLOSED) {
			/* the hub refused the stream (session gone?) or it ended: check, retry */
			setTimeout(async () => {
				if (events !== es)
					return;
				if (await checkSession())
					startEvents();
			}, 2000);
		}
	});
}

function stopEvents()
{
	if (events) {
		events.close();
		events = null;
	}
}

/* true when the session is live; shows the login form when not. */
async function checkSession()
{
	try {
		const res = await fetch(`${API}/session`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
		if (res.status === 401) {
			sessionLost();
			return false;
		}
		if (res.ok) {
			const s = await res.json().catch(() => ({}));
			document.getElementById('user').textContent = s.user || '';
			return true;
		}
	} catch (e) {
		/* network: the hub may be restarting */
	}
	return false;
}

function showLogin(message)
{
	loggedIn = false;
	stopEvents();
	if (current) {
		current.view.loader.stop();
		current = null;
	}
	document.getElementById('main').replaceChildren();
	document.getElementById('topbar').hidden = true;
	document.getElementById('login').hidden = false;
	const e = document.getElementById('login-error');
	e.hidden = !message;
	e.textContent = message || '';
	const t = document.getElementById('login-token');
	t.value = '';
	t.focus();
	document.title = 'Nave · Sign in';
}

function sessionLost()
{
	if (loggedIn)
		showLogin('Your session has ended; sign in again.');
}

function enterApp(user, focusMain)
{
	loggedIn = true;
	document.getElementById('login').hidden = true;
	document.getElementById('topbar').hidden = false;
	document.getElementById('user').textContent = user || '';
	startEvents();
	route();
	if (focusMain)	/* after the login form: keyboard users go on in the content */
		document.getElementById('main').focus({ preventScroll: true });
}

async function login(ev)
{
	ev.preventDefault();
	const tokenEl = document.getElementById('login-token');
	const errEl = document.getElementById('login-error');
	const btn = document.getElementById('login-submit');
	const token = tokenEl.value.trim();
	if (!token) {
		errEl.textContent = 'Enter the admin token.';
		errEl.hidden = false;
		tokenEl.focus();
		return;
	}
	btn.disabled = true;
	errEl.hidden = true;
	try {
		const r = await post(`${API}/login`, { token });
		tokenEl.value = '';
		enterApp(r && r.user, true);
	} catch (e) {
		errEl.textContent = e instanceof HttpError ? e.message : `Cannot reach the hub (${e.message}).`;
		errEl.hidden = false;
		tokenEl.select();
		tokenEl.focus();
	} finally {
		btn.disabled = false;
	}
}

async function logout()
{
	try {
		await post(`${API}/logout`);
	} catch (e) {
		/* the session may be gone already */
	}
	showLogin('');
}

function onKey(ev)
{
	if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey)
		return;
	const tag = (ev.target && ev.target.tagName) || '';
	const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(tag) || (ev.target && ev.target.isContentEditable);
	if (ev.key === '/' && !typing && loggedIn && current) {
		const f = current.view.filter;
		if (f && f.isConnected && !f.closest('[hidden]')) {
			ev.preventDefault();
			f.focus();
			f.select();
		}
	} else if (ev.key === 'Escape' && typing && tag === 'INPUT' && ev.target.type === 'search' && ev.target.value) {
		/* Escape in a filter clears it (the native search input does too) */
	}
}

async function boot()
{
	document.getElementById('login-form').addEventListener('submit', login);
	document.getElementById('logout').addEventListener('click', logout);
	/* the skip link must not change the hash (the router owns it) */
	document.querySelector('.skip').addEventListener('click', (ev) => {
		ev.preventDefault();
		document.getElementById('main').focus();
	});
	window.addEventListener('hashchange', route);
	document.addEventListener('keydown', onKey);
	setInterval(tickTimes, 5000);
	let user = null;
	try {
		const res = await fetch(`${API}/session`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
		if (res.ok)
			user = (await res.json().catch(() => ({}))).user || 'admin';
	} catch (e) {
		/* the hub is unreachable: the login form says so when used */
	}
	if (user)
		enterApp(user);
	else
		showLogin('');
}

boot();
