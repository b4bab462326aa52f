// harness.mjs — what the browser tests share: the browser (--browser= or
// WEFT_BROWSER: `chromium`, the default: Debian's chromium driven by playwright-core;
// `firefox`: Debian's firefox-esr driven by puppeteer-core through
// firefox.mjs, which gives its pages Playwright's API), or a skip (exit 77)
// with what to install; `weft serve` and weft-mock-llm on 127.0.0.1 with
// ports of their own; pages that record console errors; screenshots under
// the build dir; TAP-like checks.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SKIP = 77;
export const sourceRoot = process.env.WEFT_SOURCE_ROOT || new URL('../..', import.meta.url).pathname;
export const buildRoot = process.env.WEFT_BUILD_ROOT || join(sourceRoot, 'build');
export const weft = process.argv[2] || join(buildRoot, 'cli', 'weft');

export function skip(message) {
  console.log(`1..0 # SKIP ${message}`);
  process.exit(SKIP);
}

// `--browser=NAME` after the paths (meson's tests), else WEFT_BROWSER.
export const browserName = process.argv.find((a) => a.startsWith('--browser='))?.slice(10)
  || process.env.WEFT_BROWSER || 'chromium';

export async function loadPlaywright() {
  const chromium = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']
    .find((path) => path && existsSync(path));
  if (!chromium)
    skip('no chromium: apt-get install chromium (or set CHROMIUM to its path)');
  try {
    const { chromium: driver } = await import('playwright-core');
    return { driver, chromium };
  } catch {
    skip('no playwright-core: npm ci --prefix tests/browser');
  }
}

async function launchFirefox() {
  const { FIREFOX, launch: launchWith } = await import('./firefox.mjs');
  if (!FIREFOX)
    skip('no firefox-esr: apt-get install firefox-esr (or set FIREFOX to its path)');
  let puppeteer;
  try {
    puppeteer = (await import('puppeteer-core')).default;
  } catch {
    skip('no puppeteer-core: npm ci --prefix tests/browser');
  }
  return launchWith(puppeteer);
}

export async function launch() {
  if (browserName === 'firefox') return launchFirefox();
  const { driver, chromium } = await loadPlaywright();
  // Nothing leaves the machine: no background networking, no updates.
  return driver.launch({
    executablePath: chromium,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-dev-shm-usage'],
  });
}

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// `weft serve --flows DIR` on a free port (`env` added to the test's);
// resolves once it listens.
export function serve(flows, args = [], env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(weft, ['serve', '--flows', flows, '--listen', '127.0.0.1:0',
                               '--grace', '1', ...args],
                        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    const timer = setTimeout(() => reject(new Error(`weft serve did not start: ${err}`)), 15000);
    child.stderr.on('data', (chunk) => {
      err += chunk;
      const m = err.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && !child.url) {
        clearTimeout(timer);
        child.url = `http://127.0.0.1:${m[1]}`;
        resolve({
          url: child.url,
          // Resolves with its exit status (a sanitizer's leak report fails it).
          stop: () => new Promise((done) => {
            if (child.exitCode !== null) return done(child.exitCode);
            child.on('exit', (code) => done(code));
            child.kill('SIGTERM');
          }),
          log: () => err,
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!child.url) reject(new Error(`weft serve exited ${code}: ${err}`));
    });
    process.on('exit', () => child.kill('SIGKILL'));
  });
}

// weft-mock-llm (the path given after weft's, or beside it in the build)
// answering from a script on a free port (`args`: more of its options);
// resolves with its /v1 URL.
export function mockLlm(script, args = []) {
  const mock = process.argv[3] || join(buildRoot, 'mock', 'weft-mock-llm');
  return new Promise((resolve, reject) => {
    const child = spawn(mock, ['--port', '0', '--threads', '1', '--script', script, ...args],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/^listening on (\S+)/m);
      if (m && !child.url) resolve({ url: (child.url = m[1]), stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => { if (!child.url) reject(new Error(`${mock} exited ${code}`)); });
    process.on('exit', () => child.kill('SIGKILL'));
  });
}

// A page whose console errors and uncaught exceptions are kept; `options`
// are Playwright's for a context (viewport, colorScheme).
export async function newPage(browser, options = {}) {
  if (browserName === 'firefox') return browser.newPage(options);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

// Named after the browser unless it is the default one.
export function screenshotPath(name) {
  const dir = join(buildRoot, 'dashboard-screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, browserName === 'chromium' ? name : `${browserName}-${name}`);
}

export async function screenshot(page, name) {
  const path = screenshotPath(name);
  await page.screenshot({ path });
  console.log(`# screenshot: ${path}`);
  return path;
}

// How much wider than its window the page is (0 or less: nothing overflows).
export function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
}

// `url` in a page of the dark scheme, once `ready` shows: its background
// checked, a screenshot taken; its console errors go to `errors`.
export async function checkDark(browser, url, ready, name, errors) {
  const dark = await newPage(browser, { colorScheme: 'dark' });
  await dark.goto(url);
  await dark.locator(ready).first().waitFor();
  const background = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
  ok(background === 'rgb(15, 18, 22)', 'the dark scheme', background);
  await screenshot(dark, name);
  errors.push(...dark.errors);
}

// Checks, printed as TAP; the process fails if any did.
let n = 0;
let failed = 0;
export function ok(condition, name, detail = '') {
  n++;
  if (condition) console.log(`ok ${n} - ${name}`);
  else {
    failed++;
    console.log(`not ok ${n} - ${name}${detail ? `\n  # ${String(detail).replace(/\n/g, '\n  # ')}` : ''}`);
  }
  return condition;
}

export function finish() {
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

export async function api(base, method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(base + path, { method, headers,
                                              body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function waitFor(fn, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
