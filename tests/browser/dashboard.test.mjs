// dashboard.test.mjs — the dashboard end to end in headless Chromium or
// Firefox (harness.mjs): `weft serve` on 127.0.0.1 with examples/ and
// flows of the test's own; the page is driven as a person would.
//
//   node dashboard.test.mjs WEFT   (meson test dashboard-e2e, and
//   --browser=firefox: dashboard-e2e-firefox; exit 77 skips)
//
// It starts examples/content.json from its form and reads its result;
// watches a run of the same diamond, each task held until the test lets
// it finish, turn each node running, then completed, in the graph's
// order (whatever the machine's speed); opens a task and
// reads its output; cancels a slow run; replays a run from a task (the
// flow has a sqlite store); sees a token's login prompt before anything
// else; shows a run the server only has in a store, steps and all; looks at the pages at phone size and in the dark scheme, and
// reaches a task with the keyboard.  No console error anywhere.
// Screenshots go to BUILD/dashboard-screenshots/, named in the log.

import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, buildRoot, checkDark, finish, launch, newPage, ok, overflow, screenshot, serve,
         sourceRoot, tempDir, waitFor } from './harness.mjs';

const browser = await launch();
const flows = tempDir('weft-dashboard-');
for (const file of readdirSync(join(sourceRoot, 'examples')))
  if (file.endsWith('.json')) copyFileSync(join(sourceRoot, 'examples', file), join(flows, file));
writeFileSync(join(flows, 'slow.json'), JSON.stringify({
  name: 'slow',
  agents: { wait: { plugin: 'template', delay_ms: 60000, template: 'done' } },
  tasks: [{ name: 'wait', agent: 'wait', description: 'wait a minute' },
          { name: 'after', agent: 'wait', description: 'then more', context: ['wait'] }],
}));
writeFileSync(join(flows, 'kept.json'), JSON.stringify({
  name: 'kept',
  callbacks: { db: { plugin: 'sqlite', path: join(flows, 'runs.db') } },
  agents: { say: { plugin: 'template', delay_ms: 100, template: '{description} ({task})' } },
  tasks: [{ name: 'a', agent: 'say', description: 'first' },
          { name: 'b', agent: 'say', description: 'second', context: ['a'] },
          { name: 'c', agent: 'say', description: 'third', context: ['b'] }],
}));

// The test plugins (tests/plugins/good): an agent that calls tools, twice
// each, and one that reports a step.
writeFileSync(join(flows, 'tools.json'), JSON.stringify({
  name: 'tools',
  tools: { clock: { plugin: 'test-tool', sleep_ms: 50 } },
  agents: { caller: { plugin: 'test-caller', calls: 2, fail_call: 1, tools: ['clock'] },
            noter: { plugin: 'test-agent', sleep_ms: 10 } },
  tasks: [{ name: 'call', agent: 'caller', description: 'use the clock' },
          { name: 'note', agent: 'noter', description: 'take a note' }],
}));

// The same, with a store: a second server, which has none of its runs in
// memory, shows one from the store's events.
writeFileSync(join(flows, 'kept-tools.json'), JSON.stringify({
  name: 'kept-tools',
  callbacks: { db: { plugin: 'sqlite', path: join(flows, 'runs.db') } },
  tools: { clock: { plugin: 'test-tool', sleep_ms: 50 } },
  agents: { caller: { plugin: 'test-caller', calls: 2, fail_call: 1, tools: ['clock'] } },
  tasks: [{ name: 'call', agent: 'caller', description: 'use the clock' }],
}));

// The content flow's diamond with each task held until the test lets it
// finish (a file of its name in `gates`): the graph is watched node by
// node, each state shown for as long as the test looks, however slow the
// machine (content.json's tasks last 0.2 to 0.8 s, which a loaded machine
// may take to draw the graph at all).
const gates = tempDir('weft-gates-');
const diamond = { outline: [], research: ['outline'], examples: ['outline'],
                  draft: ['research', 'examples'], final: ['draft'] };
writeFileSync(join(flows, 'gated.json'), JSON.stringify({
  name: 'gated',
  process: 'graph',
  agents: Object.fromEntries(Object.keys(diamond).map((task) => [task, {
    plugin: 'exec', shell: true, stdin: 'none',
    command: [`until [ -e '${join(gates, task)}' ]; do sleep 0.05; done; echo ${task}`] }])),
  tasks: Object.entries(diamond).map(([task, context]) => ({ name: task, agent: task,
                                                             description: task, context })),
}));

const plugins = ['--plugin-dir', join(buildRoot, 'tests', 'plugins', 'good')];
const server = await serve(flows, plugins);
const errors = [];
let storedId = null;    // a run of kept-tools, for the second server to read from its store

// Once `page` shows run `id` (task `task` chosen): the page takes a new
// hash on its hashchange event, after goto or a click has returned, and
// until then what is on it (main's data-status too) is the last view's.
const showing = async (page, id, task) => {
  await page.locator('h1.run-title', { hasText: id }).waitFor();
  if (task) await page.locator('#task-h', { hasText: task }).waitFor();
};

try {
  const page = await newPage(browser);

  // ---- the runs table, empty -------------------------------------------------------
  await page.goto(`${server.url}/`);
  await page.locator('h1', { hasText: 'Runs' }).waitFor();
  ok(await page.locator('#live[data-state=live]').count() === 1 ||
     await page.locator('#live').waitFor().then(() => true), 'the runs table opens');
  await page.locator('#live[data-state=live]').waitFor();
  ok(true, 'the stream of all runs is live');

  // ---- kick off examples/content.json from its form ---------------------------------
  await page.click('nav a[data-nav=start]');
  const form = page.locator('section[data-flow=content] form.kickoff');
  await form.locator('[data-input=subject]').fill('browsers');
  ok(await form.locator('[data-input=audience]').inputValue() === 'backend developers',
     'the form is prefilled with the flow\'s defaults');
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/run\//);
  const runId = decodeURIComponent(page.url().split('#/run/')[1]);
  await showing(page, runId);
  await page.locator('main[data-status=completed]').waitFor({ timeout: 20000 });
  await page.locator('#graph g.node[data-status=completed]').nth(4).waitFor();
  ok(await page.locator('#gantt .gantt-bar.st-completed').count() === 5,
     'the timeline has a bar per task');
  ok((await page.locator('#run-result').textContent()).includes('FINAL (edited for backend developers)'),
     'the run\'s result is shown');

  // ---- open a task, read its output --------------------------------------------------
  await page.locator('#graph g.node[data-task=research]').click();
  await showing(page, runId, 'research');
  await page.locator('#task-output').waitFor();
  const output = await page.locator('#task-output').textContent();
  ok(output.includes('[research] Collect facts about browsers'), 'a task\'s output', output);
  ok(page.url().endsWith(`#/run/${runId}/research`), 'the task is in the URL');
  await screenshot(page, 'run-page.png');

  // ---- the keyboard reaches a task ---------------------------------------------------
  await page.locator('#graph g.node[data-task=draft]').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/draft$/);
  await showing(page, runId, 'draft');
  ok((await page.locator('#task-output').textContent()).startsWith('DRAFT'),
     'a graph node is chosen with the keyboard');

  // ---- the graph follows a run: each node running, then completed, in order -------------
  // Each step lets one task finish; then the nodes it frees must show
  // running, and those still waiting for a held task must stay pending.
  const gated = await api(server.url, 'POST', '/v1/flows/gated/runs', {});
  await page.goto(`${server.url}/#/run/${gated.body.run_id}`);
  await showing(page, gated.body.run_id);
  const node = (task) => page.locator(`#graph g.node[data-task=${task}]`);
  const status = { outline: 'running', research: 'pending', examples: 'pending',
                   draft: 'pending', final: 'pending' };
  const wrong = [];
  const ran = new Set();
  for (const finished of [null, 'outline', 'research', 'examples', 'draft', 'final']) {
    if (finished) {
      writeFileSync(join(gates, finished), '');
      status[finished] = 'completed';
      for (const [task, needs] of Object.entries(diamond))
        if (status[task] === 'pending' && needs.every((t) => status[t] === 'completed'))
          status[task] = 'running';
    }
    for (const [task, want] of Object.entries(status)) if (want !== 'pending') {
      await node(task).and(page.locator(`[data-status=${want}]`)).waitFor();
      if (want === 'running') ran.add(task);
    }
    for (const [task, want] of Object.entries(status))
      if (want === 'pending' && await node(task).getAttribute('data-status') !== 'pending')
        wrong.push(`${task} ${await node(task).getAttribute('data-status')} after ${finished}`);
  }
  await page.locator('main[data-status=completed]').waitFor();
  ok(Object.keys(diamond).every((t) => ran.has(t) && status[t] === 'completed'),
     'each node turned running, then completed');
  ok(wrong.length === 0, 'in the graph\'s order: a node runs once what it waits for completed',
     wrong.join('; '));

  // ---- a task's steps: tool calls and their results, an agent's notes ------------------
  const tools = await api(server.url, 'POST', '/v1/flows/tools/runs', {});
  await page.goto(`${server.url}/#/run/${tools.body.run_id}/call`);
  await showing(page, tools.body.run_id, 'call');
  await page.locator('main[data-status=completed]').waitFor();
  await page.locator('.steps .step-tool_call').first().waitFor();
  ok(await page.locator('.steps .step-tool_call').count() === 2
     && await page.locator('.steps .step-tool_result').count() === 2
     && (await page.locator('.steps .step-tool_call').first().textContent()).includes('clock')
     && (await page.locator('.steps .step-tool_result pre.error').textContent()).includes('asked to fail'),
     'the task panel shows tool calls with their arguments and results (and a failed one)');
  await page.goto(`${server.url}/#/run/${tools.body.run_id}/note`);
  await showing(page, tools.body.run_id, 'note');
  await page.locator('.steps .step-note').waitFor();
  ok((await page.locator('.steps .step-note').textContent()).includes('about to return'),
     'and an agent\'s own steps');

  // ---- cancel a slow run ---------------------------------------------------------------
  await page.goto(`${server.url}/#/start`);
  await page.locator('section[data-flow=slow] form.kickoff button[type=submit]').click();
  await page.waitForURL(/#\/run\//);
  await page.locator('#graph g.node[data-task=wait][data-status=running]').waitFor();
  await page.click('#cancel-run');
  await page.locator('main[data-status=cancelled]').waitFor();
  ok(await page.locator('#graph g.node[data-task=wait][data-status=cancelled]').count() === 1
     && await page.locator('#graph g.node[data-task=after][data-status=skipped]').count() === 1,
     'a cancelled run: its running task cancelled, the next skipped');

  // ---- replay from a task (a flow with a sqlite store) ------------------------------
  const kept = await api(server.url, 'POST', '/v1/flows/kept/runs', {});
  await page.goto(`${server.url}/#/run/${kept.body.run_id}/b`);
  await showing(page, kept.body.run_id, 'b');
  await page.locator('main[data-status=completed]').waitFor();
  await page.click('#replay-task');
  await page.waitForURL((url) => !url.hash.includes(kept.body.run_id));
  const replayId = decodeURIComponent(page.url().split('#/run/')[1]);
  await showing(page, replayId);
  await page.locator('main[data-status=completed]').waitFor();
  await page.locator('#gantt .gantt-row[data-task=a] .gantt-reused').waitFor();
  ok(await page.locator('#gantt .gantt-row[data-task=b] .gantt-bar').count() === 1
     && await page.locator('#gantt .gantt-row[data-task=a] .gantt-bar').count() === 0,
     'the replay reused a, ran b and c again');
  const stored = await api(server.url, 'GET', `/v1/runs?flow=kept`);
  ok(stored.body.runs.some((r) => r.run_id === replayId), 'the replay is a run like any other');

  // ---- the runs table, with runs -------------------------------------------------------
  await page.goto(`${server.url}/#/runs`);
  await page.locator(`tr[data-run="${runId}"]`).waitFor();
  await page.locator(`tr[data-run="${replayId}"][data-status=completed]`).waitFor({ timeout: 5000 })
    .catch(async () => {
      console.log('# DEBUG', await page.locator(`tr[data-run="${replayId}"]`).innerText(),
                  JSON.stringify((await api(server.url, 'GET', '/v1/runs')).body));
    });
  ok(await page.locator('tbody tr').count() === 6, 'the table lists the six runs');
  ok(await page.locator('tbody tr').first().getAttribute('data-run') === replayId,
     'newest first');
  await page.selectOption('#filter-status', 'cancelled');
  await waitFor(async () => await page.locator('tbody tr').count() === 1, 'the filter');
  ok(true, 'filtered by status');
  await page.selectOption('#filter-status', '');
  await page.fill('#filter-id', runId.slice(0, 8));
  await waitFor(async () => await page.locator('tbody tr').count() === 1, 'the search');
  ok(await page.locator('tbody tr').getAttribute('data-run') === runId, 'searched by id');
  await page.fill('#filter-id', '');
  await page.selectOption('#filter-flow', 'kept');
  await waitFor(async () => await page.locator('tbody tr').count() === 2, 'the flow filter');
  ok(true, 'filtered by flow');
  await page.selectOption('#filter-flow', '');
  ok((await page.locator('.count.st-completed .n').textContent()) === '5', 'counts by status');
  // A run started elsewhere appears live.
  const other = await api(server.url, 'POST', '/v1/flows/blog/runs', {});
  await page.locator(`tr[data-run="${other.body.run_id}"][data-status=completed]`)
    .waitFor({ timeout: 10000 });
  ok(true, 'a run started by another client appears, then completes, without a reload');
  await screenshot(page, 'runs-table.png');

  // ---- batches and background tasks ---------------------------------------------------
  await page.goto(`${server.url}/#/start`);
  const batch = page.locator('section[data-flow=blog]');
  await batch.locator('summary').click();
  await batch.locator('textarea').fill('{"topic": "looms"}\n{"topic": "ships"}\n');
  await batch.locator('form.batch button').click();
  await batch.locator('.form-status', { hasText: 'Started 2 runs' }).waitFor();
  ok(true, 'a batch from pasted JSON lines');
  await page.goto(`${server.url}/#/tasks`);
  await page.selectOption('#task-flow', 'slow');
  await page.fill('#task-prompt', 'take your time');
  await page.click('#tasks ~ * button, form button[type=submit]');
  await page.locator('#tasks tbody tr [class~=badge]', { hasText: 'running' }).waitFor();
  await page.locator('#tasks tbody button.danger').click();
  await page.locator('#tasks tbody tr .badge', { hasText: 'cancelled' }).waitFor({ timeout: 10000 });
  ok(true, 'a background task started, watched and cancelled');

  // ---- phone size, dark scheme ----------------------------------------------------------
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}/#/run/${runId}/final`);
  await showing(page, runId, 'final');
  await page.locator('main[data-status=completed]').waitFor();
  const wider = await overflow(page);
  ok(wider <= 0, 'nothing overflows a phone\'s width', `${wider}px`);
  await screenshot(page, 'run-page-phone.png');
  await page.goto(`${server.url}/#/runs`);
  await page.locator(`tr[data-run="${runId}"]`).waitFor();
  const tableOverflow = await overflow(page);
  ok(tableOverflow <= 0, 'nor does the runs table', `${tableOverflow}px`);
  await screenshot(page, 'runs-table-phone.png');
  errors.push(...page.errors);
  await checkDark(browser, `${server.url}/#/run/${runId}`, 'main[data-status=completed]',
                  'run-page-dark.png', errors);
  // For the second server, which will have it in its store only.
  storedId = (await api(server.url, 'POST', '/v1/flows/kept-tools/runs', {})).body.run_id;
} catch (error) {
  ok(false, 'the walk through the dashboard', error.stack);
}

// ---- behind a token: the prompt comes first -------------------------------------------------
const guarded = await serve(flows, [...plugins, '--token', 'open-sesame']);
try {
  const page = await newPage(browser);
  const refused = [];
  page.on('response', (r) => { if (r.status() === 401) refused.push(r.url()); });
  await page.goto(`${guarded.url}/`);
  await page.locator('dialog#login[open]').waitFor();
  ok(await page.locator('tbody tr').count() === 0 && refused.length === 0,
     'with a token, the login prompt comes before any request for data');
  await page.fill('#token', 'open-sesame');
  await page.press('#token', 'Enter');
  await page.locator('#live[data-state=live]').waitFor();
  ok(await page.locator('dialog#login[open]').count() === 0 && refused.length === 0,
     'the token opens the dashboard', refused.join(', '));
  ok(await page.evaluate(() => sessionStorage.getItem('weft.token')) === 'open-sesame'
     && !page.url().includes('open-sesame'), 'kept for the tab, never in the URL');
  await page.reload();
  await page.locator('#live[data-state=live]').waitFor();
  ok(await page.locator('dialog#login[open]').count() === 0, 'asked once per tab');

  // ---- a run this server never ran: from its store, with its steps and attempts -----------------
  await waitFor(async () => (await api(guarded.url, 'GET', `/v1/runs/${storedId}`, undefined,
                                       'open-sesame')).body?.status === 'completed',
                'the store to hold the run of kept-tools');
  await page.goto(`${guarded.url}/#/run/${storedId}/call`);
  await showing(page, storedId, 'call');
  await page.locator('main[data-status=completed]').waitFor();
  await page.locator('.steps .step-tool_result').nth(1).waitFor();
  ok(await page.locator('.steps .step-tool_call').count() === 2
     && await page.locator('.steps .step-tool_result').count() === 2
     && await page.locator('#gantt .gantt-row[data-task=call] .gantt-bar').count() === 1
     && await page.locator('#live[data-state=ended]').count() === 1,
     'a run read from a store shows its steps and attempts (its stored events)');
  errors.push(...page.errors);
} catch (error) {
  ok(false, 'the token', error.stack);
}

ok(errors.length === 0, 'no console error', errors.join('\n'));
await browser.close();
for (const s of [server, guarded]) {
  const code = await s.stop();
  ok(code === 0, 'weft serve stopped cleanly', s.log());
}
finish();
