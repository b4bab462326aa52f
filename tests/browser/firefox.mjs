// firefox.mjs — the browser tests in Firefox: Debian's firefox-esr driven
// over WebDriver BiDi by puppeteer-core (Playwright drives only its own
// patched Firefox).  What the tests call on a page is Playwright's API;
// this is that part of it over puppeteer: locators (CSS, hasText, nth,
// and, nested) that wait as Playwright's do, clicks, fills, keys, URLs,
// viewports, screenshots, and pages whose console errors are kept.
//
// A dark page is a page of a second Firefox whose content prefers the
// dark scheme: BiDi cannot emulate a media feature (puppeteer needs CDP
// for emulateMediaFeatures), and a preference holds for the whole browser.

import { existsSync } from 'node:fs';

const TIMEOUT_MS = 30000;
const POLL_MS = 50;

export const FIREFOX = [process.env.FIREFOX, '/usr/bin/firefox-esr', '/usr/bin/firefox']
  .find((path) => path && existsSync(path));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// In the page: the elements a locator's steps find, in document order.
function resolveSteps(steps) {
  const norm = (text) => text.replace(/\s+/g, ' ').trim().toLowerCase();
  const run = (list) => {
    let found = [document];
    for (const step of list) {
      if (step.css !== undefined) {
        const next = new Set();
        for (const root of found) for (const e of root.querySelectorAll(step.css)) next.add(e);
        found = [...next];
        if (step.hasText !== undefined)
          found = found.filter((e) => norm(e.textContent).includes(norm(step.hasText)));
      } else if (step.nth !== undefined) {
        found = step.nth < 0 ? found.slice(step.nth) : found.slice(step.nth, step.nth + 1);
      } else if (step.and !== undefined) {
        const other = new Set(run(step.and));
        found = found.filter((e) => other.has(e));
      }
    }
    return found;
  };
  return run(steps);
}

function isVisible(e) {
  const box = e.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
}

// In the page: whether `e` may take an action now, as Playwright's checks
// before one: `editable` (a fill): visible, enabled, not read-only;
// `actionable` (a click): visible, enabled, in the same place two frames
// running (not moving), and the element the pointer would hit at its
// centre (nothing over it).
async function isReady(e, state) {
  if (!isVisible(e) || e.disabled || e.closest?.('fieldset[disabled]')) return false;
  if (state === 'editable') return !e.readOnly;
  e.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const before = e.getBoundingClientRect();
  // Two frames, as Playwright waits; a page whose frames do not come
  // (throttled) is measured again a little later all the same.
  await new Promise((done) => {
    let frames = 0;
    const tick = () => (++frames === 2 ? done() : requestAnimationFrame(tick));
    requestAnimationFrame(tick);
    setTimeout(done, 100);
  });
  const after = e.getBoundingClientRect();
  if (!e.isConnected || ['x', 'y', 'width', 'height'].some((k) => before[k] !== after[k]))
    return false;
  const hit = document.elementFromPoint(after.x + after.width / 2, after.y + after.height / 2);
  return hit !== null && (hit === e || e.contains(hit));
}

class Locator {
  constructor(page, steps) {
    this.page = page;
    this.steps = steps;
  }

  locator(css, { hasText } = {}) { return new Locator(this.page, [...this.steps, { css, hasText }]); }
  nth(i) { return new Locator(this.page, [...this.steps, { nth: i }]); }
  first() { return this.nth(0); }
  and(other) { return new Locator(this.page, [...this.steps, { and: other.steps }]); }

  count() {
    return this.page.raw.evaluate(`(${resolveSteps})(${JSON.stringify(this.steps)}).length`);
  }

  // What `fn(element)` gives for the first match, once there is one.
  async read(fn, arg) {
    const handle = await this.handle({ state: 'attached' });
    try {
      return await handle.evaluate(fn, arg);
    } finally {
      await handle.dispose();
    }
  }

  // The first match once it is in `state`: attached, visible, editable
  // or actionable (isReady); what else it must hold, `extra(e, arg)`.
  async handle({ state = 'attached', timeout = TIMEOUT_MS, extra = null, arg = null } = {}) {
    const deadline = Date.now() + timeout;
    const probe = `(async () => {
      const isVisible = ${isVisible}, isReady = ${isReady}, extra = ${extra ?? null};
      const e = (${resolveSteps})(${JSON.stringify(this.steps)})[0];
      if (!e) return null;
      const state = ${JSON.stringify(state)};
      if (state === 'visible' && !isVisible(e)) return null;
      if ((state === 'editable' || state === 'actionable') && !(await isReady(e, state)))
        return null;
      return extra === null || extra(e, ${JSON.stringify(arg)}) ? e : null;
    })()`;
    for (;;) {
      const handle = await this.page.raw.evaluateHandle(probe);
      const element = handle.asElement();
      if (element) return element;
      await handle.dispose();
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeout} ms waiting for ${this} to be ${state}`);
      await sleep(POLL_MS);
    }
  }

  // `act(handle)` on the first match once it is in `state`, as Playwright's
  // actions: a match the page replaced meanwhile (a list drawn again) is
  // found again, and the action tried on it.
  async act(state, act, { extra = null, arg = null } = {}) {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const handle = await this.handle({ state, extra, arg,
                                         timeout: Math.max(0, deadline - Date.now()) });
      try {
        return await act(handle);
      } catch (error) {
        if (!/detached|not connected|not clickable|not visible/i.test(error.message)
            || Date.now() > deadline)
          throw error;
      } finally {
        await handle.dispose().catch(() => {});
      }
      await sleep(POLL_MS);
    }
  }

  async waitFor({ state = 'visible', timeout = TIMEOUT_MS } = {}) {
    await (await this.handle({ state, timeout })).dispose();
  }

  textContent() { return this.read((e) => e.textContent); }
  getAttribute(name) { return this.read((e, n) => e.getAttribute(n), name); }
  inputValue() { return this.read((e) => e.value); }
  isEnabled() { return this.read((e) => !e.disabled); }
  focus() { return this.read((e) => e.focus()); }

  click() { return this.act('actionable', (handle) => handle.click()); }

  // As Playwright's: once editable, the value replaced at once, with the
  // events typing sends.
  fill(value) {
    return this.act('editable', (handle) => handle.evaluate((e, v) => {
      e.focus();
      e.value = v;
      e.dispatchEvent(new Event('input', { bubbles: true }));
      e.dispatchEvent(new Event('change', { bubbles: true }));
    }, value));
  }

  // As Playwright's: once the <select> is enabled and has the option (a
  // list the page fills from the server may not have it yet).
  selectOption(value) {
    const hasOption = (e, v) => [...e.options].some((o) => o.value === v);
    return this.act('editable', (handle) => handle.select(value), { extra: hasOption, arg: value });
  }

  toString() { return `locator ${JSON.stringify(this.steps)}`; }
}

// A page with the part of Playwright's Page the tests use.
class Page {
  constructor(raw) {
    this.raw = raw;
    this.keyboard = raw.keyboard;
    this.errors = [];
    raw.on('console', (m) => { if (m.type() === 'error') this.errors.push(m.text()); });
    raw.on('pageerror', (e) => this.errors.push(String(e)));
  }

  on(type, fn) { this.raw.on(type, fn); }
  url() { return this.raw.url(); }
  goto(url) { return this.raw.goto(url); }
  reload() { return this.raw.reload(); }
  addInitScript(fn) { return this.raw.evaluateOnNewDocument(fn); }
  evaluate(fn, arg) { return this.raw.evaluate(fn, arg); }
  screenshot({ path }) { return this.raw.screenshot({ path }); }
  setViewportSize({ width, height }) { return this.raw.setViewport({ width, height }); }
  waitForTimeout(ms) { return sleep(ms); }
  locator(css, options) { return new Locator(this, []).locator(css, options); }
  click(css) { return this.locator(css).first().click(); }
  fill(css, value) { return this.locator(css).fill(value); }
  selectOption(css, value) { return this.locator(css).selectOption(value); }

  async press(css, key) {
    await this.locator(css).focus();
    await this.raw.keyboard.press(key);
  }

  async waitForURL(match, { timeout = TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeout;
    const test = match instanceof RegExp ? (u) => match.test(u.href) : match;
    while (!test(new URL(await this.raw.evaluate(() => location.href)))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for a URL: ${match}`);
      await sleep(POLL_MS);
    }
  }
}

function launchFirefox(puppeteer, dark) {
  return puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, headless: true, protocol: 'webDriverBiDi',
    // 0: content prefers dark, 1: light (whatever the machine's theme).
    extraPrefsFirefox: { 'layout.css.prefers-color-scheme.content-override': dark ? 0 : 1 },
  });
}

// A browser with Playwright's newPage(options) (viewport, colorScheme),
// each page in a context of its own (its own sessionStorage).
export async function launch(puppeteer) {
  const browsers = { light: await launchFirefox(puppeteer, false), dark: null };
  return {
    async newPage({ viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
      const scheme = colorScheme === 'dark' ? 'dark' : 'light';
      browsers[scheme] ??= await launchFirefox(puppeteer, true);
      const context = await browsers[scheme].createBrowserContext();
      const raw = await context.newPage();
      await raw.setViewport(viewport);
      return new Page(raw);
    },
    async close() {
      for (const b of Object.values(browsers)) await b?.close();
    },
  };
}
