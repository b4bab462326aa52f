// dashboard-perf.test.mjs — the dashboard at scale in headless Chromium:
// a page of 1,000 runs and a run of 1,000 tasks each render within 2 s
// (timed in the page: performance.now() from the view's start to its
// drawing), and the page stays responsive while events stream in.
//
//   node dashboard-perf.test.mjs WEFT   (meson test dashboard-perf; exit 77 skips)
//
// The figures are printed; the 2 s targets are the and asserted.
// Responsiveness is the longest task the page's main thread ran (Long
// Tasks API) while events streamed, under 500 ms in the best of up to
// three tries (a wall-clock figure: a machine busy with other work makes
// it longer).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, finish, launch, newPage, ok, screenshot, serve, tempDir,
         waitFor } from './harness.mjs';

const TARGET_MS = 2000;
const STALL_MS = 500;
const TRIES = 3;

const flows = tempDir('weft-dashboard-perf-');
writeFileSync(join(flows, 'quick.json'), JSON.stringify({
  name: 'quick',
  agents: { say: { plugin: 'template', template: 'ok {input.n}' } },
  tasks: [{ name: 'only', agent: 'say', description: 'item {n}' }],
}));
// 1,000 tasks: 50 chains of 20, each task waiting for the one before it.
const WIDTH = 50;
const DEPTH = 20;
const tasks = [];
for (let d = 0; d < DEPTH; d++)
  for (let w = 0; w < WIDTH; w++)
    tasks.push({ name: `t${d}_${w}`, agent: 'step', description: `step ${d} of ${w}`,
                 ...(d ? { context: [`t${d - 1}_${w}`] } : {}) });
writeFileSync(join(flows, 'wide.json'), JSON.stringify({
  name: 'wide',
  agents: { step: { plugin: 'template', delay_ms: 150, template: '{description}' } },
  tasks,
}));

const browser = await launch();
const server = await serve(flows, ['--keep-runs', '5000']);
const figures = {};

// The longest task the page's main thread ran (Long Tasks API: tasks over
// 50 ms) while `action` went on: what stands between a click and its answer.
async function stalls(page, action) {
  await page.evaluate(() => {
    window.__longest = 0;
    window.__long = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        window.__longest = Math.max(window.__longest, entry.duration);
    });
    window.__long.observe({ type: 'longtask' });
  });
  await action();
  return page.evaluate(() => {
    window.__long.disconnect();
    return window.__longest;
  });
}

try {
  // ---- a page of 1,000 runs ------------------------------------------------------------
  const inputs = Array.from({ length: 1000 }, (_, n) => ({ n: String(n) }));
  const batch = await api(server.url, 'POST', '/v1/flows/quick/batch', { inputs, max_parallel: 200 });
  ok(batch.status === 202, 'a batch of 1,000 runs');
  await waitFor(async () => (await api(server.url, 'GET', '/healthz')).body.runs_finished === 1000,
                'the batch');
  const page = await newPage(browser);
  await page.goto(`${server.url}/#/runs`);
  await page.locator('main[data-rows="1000"]').waitFor({ timeout: 30000 });
  const shown = Number(await page.locator('main').getAttribute('data-shown-at'));
  figures.runs_page_ms = shown;
  ok(shown > 0 && shown < TARGET_MS, `1,000 runs shown ${shown.toFixed(0)} ms after the page opened`);
  await screenshot(page, 'runs-1000.png');

  // Responsive while 500 more runs stream their events in.  The machine
  // may be busy with other work: the best of up to three tries counts.
  const runStalls = [];
  for (let attempt = 1; attempt <= TRIES; attempt++) {
    runStalls.push(await stalls(page, async () => {
      const more = Array.from({ length: 500 }, (_, n) => ({ n: `m${attempt}-${n}` }));
      await api(server.url, 'POST', '/v1/flows/quick/batch', { inputs: more, max_parallel: 50 });
      if (attempt === 1) {
        const t = await page.evaluate(async () => {
          const t0 = performance.now();
          const input = document.getElementById('filter-id');
          input.value = 'zzzz';
          input.dispatchEvent(new Event('input'));
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
          const rows = document.querySelectorAll('tbody tr').length;
          input.value = '';
          input.dispatchEvent(new Event('input'));
          return { ms: performance.now() - t0, rows };
        });
        figures.filter_while_streaming_ms = t.ms;
        ok(t.rows === 0, `a search applied in ${t.ms.toFixed(0)} ms while events stream`);
      }
      const total = 1000 + 500 * attempt;
      await waitFor(async () => (await api(server.url, 'GET', '/healthz')).body.runs_finished
                                === total, 'the batch');
      await page.locator(`main[data-rows="${total}"]`).waitFor({ timeout: 10000 });
    }));
    if (runStalls.at(-1) < STALL_MS) break;
  }
  figures.runs_page_stall_ms = runStalls;
  ok(Math.min(...runStalls) < STALL_MS,
     `the runs page's longest stall while 500 runs streamed in: ${runStalls.map((x) => x.toFixed(0)).join(', ')} ms`);

  // ---- a run of 1,000 tasks ---------------------------------------------------------------
  // Graphviz lays the flow out once per server (kept): timed apart from the page.
  const t0 = Date.now();
  const svg = await fetch(`${server.url}/v1/flows/wide/graph.svg`);
  await svg.text();
  figures.dot_layout_ms = Date.now() - t0;
  ok(svg.status === 200, `Graphviz's layout of 1,000 tasks: ${figures.dot_layout_ms} ms (once, kept)`);

  const taskStalls = [];
  for (let attempt = 1; attempt <= TRIES; attempt++) {
    const run = await api(server.url, 'POST', '/v1/flows/wide/runs', {});
    await page.goto(`${server.url}/#/run/${run.body.run_id}`);
    await page.locator('main[data-graph-ms]').waitFor({ timeout: 30000 });
    taskStalls.push(await stalls(page, async () => {
      if (attempt === 1) {
        const loadMs = Number(await page.locator('main').getAttribute('data-load-ms'));
        const graphMs = Number(await page.locator('main').getAttribute('data-graph-ms'));
        figures.run_page_ms = loadMs;
        figures.run_graph_ms = graphMs;
        ok(await page.locator('#gantt .gantt-row').count() === 1000, 'the timeline has 1,000 rows');
        ok(await page.locator('#graph g.node').count() === 1000, 'the graph has 1,000 nodes');
        ok(loadMs < TARGET_MS, `a run of 1,000 tasks drawn in ${loadMs.toFixed(0)} ms`);
        ok(graphMs < TARGET_MS, `its graph of 1,000 nodes in ${graphMs.toFixed(0)} ms`);
        // Choosing a task while the run's events stream in.
        const pick = await page.evaluate(async () => {
          const t = performance.now();
          document.querySelector('.gantt-row[data-task="t5_7"] .gantt-label').click();
          await new Promise((r) => {
            const check = () => (document.getElementById('task-h')?.textContent === 't5_7' ? r()
              : requestAnimationFrame(check));
            check();
          });
          return performance.now() - t;
        });
        figures.pick_task_while_streaming_ms = pick;
        ok(pick < STALL_MS, `a task chosen in ${pick.toFixed(0)} ms while events stream`);
      }
      await page.locator('main[data-status=completed]').waitFor({ timeout: 30000 });
    }));
    if (taskStalls.at(-1) < STALL_MS) break;
  }
  figures.run_page_stall_ms = taskStalls;
  ok(Math.min(...taskStalls) < STALL_MS,
     `the run page's longest stall while its 1,000 tasks ran: ${taskStalls.map((x) => x.toFixed(0)).join(', ')} ms`);
  await screenshot(page, 'run-1000.png');
  ok(page.errors.length === 0, 'no console error', page.errors.join('\n'));
} catch (error) {
  ok(false, 'the dashboard at scale', error.stack);
}
console.log(`# figures: ${JSON.stringify(figures)}`);
await browser.close();
const code = await server.stop();
ok(code === 0, 'weft serve stopped cleanly', server.log());
finish();
