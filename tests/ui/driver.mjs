// driver.mjs - a JSON-lines driver of headless Chromium for nave-hub's web view tests.
//
// Python (tests/ui/browser.py) starts `node driver.mjs`, writes one JSON command per line on
// stdin and reads exactly one JSON answer per line on stdout, so a test drives the browser
// step by step and asserts between steps. The browser is Debian's /usr/bin/chromium (or
// NAVE_UI_CHROMIUM), launched by playwright-core (no browser download), headless, with a
// fresh user data directory that the caller gives and removes.
//
// Request:  {"id": N, "cmd": "<name>", ...arguments}
// Answer:   {"id": N, "ok": true, "ms": <time the command took>, ...results}
//        or {"id": N, "ok": false, "error": "<message>"}
// Commands (timeouts in ms; selectors are Playwright selectors, usually CSS such as
// [data-testid=cluster-row][data-name=c4]):
//   launch        {user_data_dir, width?, height?}         starts the browser (first command)
//   goto          {url, wait_until?, timeout?, wait?}      navigate; wait (a wait_for
//                                                          request) is awaited after, and ms
//                                                          covers both: navigation to content
//   reload        {timeout?}
//   url           {}                                       -> {url}
//   fill          {selector, value, timeout?}
//   click         {selector, timeout?}
//   select        {selector, value, timeout?}              choose an <option> by value
//   press         {key, selector?, timeout?}               key on the element, or the page
//   wait_for      {selector, text?, regex?, flags?, state?, changed_from?, min_count?, timeout?}
//                 until an element matching selector is in state (visible by default) and its
//                 text holds text (case-sensitive substring) or matches regex; changed_from:
//                 until the first match's text differs from that string; min_count: until
//                 at least that many elements match (the n-th in state). -> {text, count?}
//                 text and regex are matched against the element's textContent (Playwright's
//                 hasText: no white space between blocks); the text returned is innerText.
//   text          {selector, all?, timeout?}               innerText of the first (or of all)
//   attr          {selector, name, all?}                   an attribute (null when absent)
//   count         {selector}                               -> {count}
//   visible       {selector}                               -> {visible}
//   box           {selector}                               -> {box: {x, y, width, height}|null}
//   viewport      {width, height}
//   screenshot    {path, full_page?}                       -> {path}
//   console_errors {clear?}  -> {errors: [console errors and warnings], csp: [the CSP
//                 violations among them], page_errors: [uncaught exceptions], loads: N}
//   mark          {value}    sets window.__naveUiMark (fixed code, no caller script)
//   mark_get      {}         -> {value, loads}: the mark survives only without a reload
//   close         {}         closes the browser; the driver exits
// There is deliberately no "eval" command: tests see the page as a user does, through
// its data-testid hooks (hub/ui.h).
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.NAVE_UI_CHROMIUM || '/usr/bin/chromium';
const DEFAULT_TIMEOUT = 10000;
const MAX_TIMEOUT = 300000;

let context = null;
let page = null;
const consoleLog = [];
const pageErrors = [];
let loads = 0;

function send(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

function timeout(req) {
	const t = req.timeout === undefined ? DEFAULT_TIMEOUT : Number(req.timeout);
	if (!Number.isFinite(t) || t < 0 || t > MAX_TIMEOUT)
		throw new Error(`timeout: expected 0..${MAX_TIMEOUT} ms, got ${req.timeout}`);
	return t;
}

function need(req, ...names) {
	for (const n of names)
		if (req[n] === undefined || req[n] === null)
			throw new Error(`${req.cmd}: "${n}" is required`);
}

function needPage() {
	if (!page)
		throw new Error('no browser: send "launch" first');
}

function escapeRegex(s) {
	return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function textPattern(req) {
	if (req.regex !== undefined && req.regex !== null)
		return new RegExp(req.regex, req.flags || '');
	if (req.text !== undefined && req.text !== null)
		return new RegExp(escapeRegex(String(req.text)));
	return null;
}

async function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// Poll for conditions Playwright's locators cannot express (a change of text, a count).
async function pollUntil(fn, ms, what) {
	const deadline = Date.now() + ms;
	let last;
	for (;;) {
		last = await fn();
		if (last.done)
			return last;
		if (Date.now() > deadline)
			throw new Error(`timed out after ${ms} ms waiting for ${what}; last seen: ${JSON.stringify(last.seen)}`);
		await sleep(25);
	}
}

async function firstText(loc) {
	if ((await loc.count()) === 0)
		return null;
	return loc.first().innerText({ timeout: 1000 }).catch(() => null);
}

async function waitFor(req) {
	need(req, 'selector');
	const ms = timeout(req);
	const state = req.state || 'visible';
	let loc = page.locator(req.selector);
	const pat = textPattern(req);
	if (pat)
		loc = loc.filter({ hasText: pat });
	const what = `${req.selector}` + (pat ? ` with text ${pat}` : '') + ` (${state})`;
	if (req.changed_from !== undefined) {
		const r = await pollUntil(async () => {
			const t = await firstText(loc);
			return { done: t !== null && t !== req.changed_from, seen: t };
		}, ms, `${what} to change from ${JSON.stringify(req.changed_from)}`);
		return { text: r.seen };
	}
	if (req.min_count !== undefined) {
		// The n-th match in state: at least n matches (Playwright's own wait, no polling delay).
		const n = Number(req.min_count);
		if (!Number.isInteger(n) || n < 1)
			throw new Error(`min_count: expected an integer >= 1, got ${req.min_count}`);
		try {
			await loc.nth(n - 1).waitFor({ state, timeout: ms });
		} catch (e) {
			throw new Error(`timed out after ${ms} ms waiting for at least ${n} of ${what}; ` +
				`${await loc.count()} match`);
		}
		return { count: await loc.count(), text: await firstText(loc) };
	}
	try {
		await loc.first().waitFor({ state, timeout: ms });
	} catch (e) {
		const seen = await firstText(page.locator(req.selector)).catch(() => null);
		throw new Error(`timed out after ${ms} ms waiting for ${what}; ` +
			`the first ${req.selector} reads ${JSON.stringify(seen)}`);
	}
	return { text: state === 'visible' || state === 'attached' ? await firstText(loc) : null };
}

async function launch(req) {
	need(req, 'user_data_dir');
	if (context)
		throw new Error('launch: the browser is already running');
	context = await chromium.launchPersistentContext(req.user_data_dir, {
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			'--disable-dev-shm-usage'],
		ignoreHTTPSErrors: true,
		viewport: { width: req.width || 1280, height: req.height || 800 },
		timeout: 60000,
	});
	page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(DEFAULT_TIMEOUT);
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning')
			consoleLog.push({ type: m.type(), text: m.text(), url: (m.location() || {}).url || '' });
	});
	page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
	page.on('load', () => { loads++; });
	page.on('dialog', (d) => {
		consoleLog.push({ type: 'dialog', text: `${d.type()}: ${d.message()}`, url: '' });
		d.dismiss().catch(() => {});
	});
	return { version: context.browser() ? context.browser().version() : null };
}

const commands = {
	launch,
	async goto(req) {
		need(req, 'url');
		const t0 = performance.now();
		const resp = await page.goto(req.url, { waitUntil: req.wait_until || 'load', timeout: timeout(req) });
		let waited = null;
		if (req.wait)
			waited = await waitFor({ cmd: 'wait_for', timeout: req.timeout, ...req.wait });
		return { status: resp ? resp.status() : null, url: page.url(), waited, ms: performance.now() - t0 };
	},
	async reload(req) {
		await page.reload({ timeout: timeout(req) });
		return {};
	},
	async url() {
		return { url: page.url() };
	},
	async fill(req) {
		need(req, 'selector', 'value');
		await page.locator(req.selector).first().fill(String(req.value), { timeout: timeout(req) });
		return {};
	},
	async select(req) {
		need(req, 'selector', 'value');
		await page.locator(req.selector).first().selectOption(String(req.value), { timeout: timeout(req) });
		return {};
	},
	async click(req) {
		need(req, 'selector');
		await page.locator(req.selector).first().click({ timeout: timeout(req) });
		return {};
	},
	async press(req) {
		need(req, 'key');
		if (req.selector)
			await page.locator(req.selector).first().press(req.key, { timeout: timeout(req) });
		else
			await page.keyboard.press(req.key);
		return {};
	},
	wait_for: waitFor,
	async text(req) {
		need(req, 'selector');
		const loc = page.locator(req.selector);
		if (req.all)
			return { text: await loc.allInnerTexts() };
		return { text: await loc.first().innerText({ timeout: timeout(req) }) };
	},
	async attr(req) {
		need(req, 'selector', 'name');
		const loc = page.locator(req.selector);
		if (req.all) {
			const n = await loc.count();
			const out = [];
			for (let i = 0; i < n; i++)
				out.push(await loc.nth(i).getAttribute(req.name, { timeout: timeout(req) }));
			return { value: out };
		}
		if ((await loc.count()) === 0)
			return { value: null, found: false };
		return { value: await loc.first().getAttribute(req.name, { timeout: timeout(req) }), found: true };
	},
	async count(req) {
		need(req, 'selector');
		return { count: await page.locator(req.selector).count() };
	},
	async visible(req) {
		need(req, 'selector');
		return { visible: await page.locator(req.selector).first().isVisible() };
	},
	async box(req) {
		need(req, 'selector');
		const loc = page.locator(req.selector);
		if ((await loc.count()) === 0)
			return { box: null };
		return { box: await loc.first().boundingBox() };
	},
	async viewport(req) {
		need(req, 'width', 'height');
		await page.setViewportSize({ width: req.width, height: req.height });
		return {};
	},
	async screenshot(req) {
		need(req, 'path');
		await page.screenshot({ path: req.path, fullPage: !!req.full_page, timeout: timeout(req) });
		return { path: req.path };
	},
	async console_errors(req) {
		const errors = consoleLog.slice();
		const errs = pageErrors.slice();
		if (req.clear) {
			consoleLog.length = 0;
			pageErrors.length = 0;
		}
		const csp = errors.filter((m) => /Content Security Policy|Refused to (load|execute|apply|connect|frame)/.test(m.text));
		return { errors, csp, page_errors: errs, loads };
	},
	async mark(req) {
		need(req, 'value');
		await page.evaluate((v) => { window.__naveUiMark = v; }, String(req.value));
		return {};
	},
	async mark_get() {
		return { value: await page.evaluate(() => window.__naveUiMark === undefined ? null : window.__naveUiMark),
			loads };
	},
	async close() {
		if (context)
			await context.close();
		context = null;
		page = null;
		return {};
	},
};

async function handle(line) {
	let req;
	try {
		req = JSON.parse(line);
	} catch (e) {
		send({ id: null, ok: false, error: `not JSON: ${e.message}` });
		return;
	}
	const id = req.id === undefined ? null : req.id;
	const fn = commands[req.cmd];
	if (!fn) {
		send({ id, ok: false, error: `unknown command ${JSON.stringify(req.cmd)}` });
		return;
	}
	const t0 = performance.now();
	try {
		if (req.cmd !== 'launch' && req.cmd !== 'close')
			needPage();
		const res = await fn(req);
		send({ id, ok: true, ms: performance.now() - t0, ...res });
	} catch (e) {
		send({ id, ok: false, error: String(e && e.message || e).split('\n').slice(0, 12).join('\n') });
	}
	if (req.cmd === 'close')
		process.exit(0);
}

// One command at a time, in order: the next line is read only after the answer.
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
const queue = [];
let busy = false;
rl.on('line', (line) => {
	if (!line.trim())
		return;
	queue.push(line);
	pump();
});
rl.on('close', async () => {
	while (busy || queue.length)
		await sleep(10);
	if (context)
		await context.close().catch(() => {});
	process.exit(0);
});

async function pump() {
	if (busy)
		return;
	busy = true;
	while (queue.length)
		await handle(queue.shift());
	busy = false;
}
