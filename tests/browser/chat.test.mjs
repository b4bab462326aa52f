// chat.test.mjs — the dashboard's conversations end to end: `weft serve`
// with examples/assistant.json talking to weft-mock-llm scripted by
// examples/mock/assistant.json (as docs/conversations.md runs it offline),
// and a copy whose weather look-up takes a minute (to be cancelled).
//
//   node chat.test.mjs WEFT MOCK-LLM   (meson test dashboard-chat, and
//   --browser=firefox: dashboard-chat-firefox; exit 77 skips)
//
// It starts a conversation from the form, sends messages from the box
// with the keyboard, sees the reply stream in (chunks joined into one
// answer, then the message), a background task go running → completed
// with its elapsed time, its notice and the answer to it arrive; with a
// slow task running, the box take a message and the answer come, the
// task's time go on, and the task cancelled from its button; with a
// slow model, a message sent during a turn wait for it, a turn stopped
// from its button, and a message refused (strategy reject) stay in the box; the list of conversations; a phone's width and the dark
// scheme.  No console error.  Screenshots under BUILD/dashboard-screenshots/.

import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, checkDark, finish, launch, mockLlm, newPage, ok, overflow, screenshot, serve,
         sourceRoot, tempDir, waitFor } from './harness.mjs';

const browser = await launch();
const mock = await mockLlm(join(sourceRoot, 'examples', 'mock', 'assistant.json'));
const flows = tempDir('weft-chat-');
copyFileSync(join(sourceRoot, 'examples', 'assistant.json'), join(flows, 'assistant.json'));
const slow = JSON.parse(readFileSync(join(flows, 'assistant.json'), 'utf8'));
slow.name = 'slow-assistant';
slow.tools.weather.command = ['sh', '-c', 'sleep 60', 'weather'];
slow.chat.background.research.flow = 'slow-assistant';
writeFileSync(join(flows, 'slow-assistant.json'), JSON.stringify(slow));
// And one whose model takes 3 s to answer: turns to talk over and stop.
const slowMock = await mockLlm(join(sourceRoot, 'examples', 'mock', 'assistant.json'),
                               ['--latency-ms', '3000']);
const thinker = JSON.parse(readFileSync(join(flows, 'assistant.json'), 'utf8'));
thinker.name = 'thinker';
thinker.agents.assistant.base_url = slowMock.url;
thinker.chat.background.research.flow = 'thinker';
writeFileSync(join(flows, 'thinker.json'), JSON.stringify(thinker));
const server = await serve(flows, [], { OPENAI_BASE_URL: mock.url, OPENAI_API_KEY: '' });
const errors = [];

// What the page showed, in order, as it showed it: each background
// task's statuses, and each streamed answer (its pieces and its text)
// when it gave way to the message it made up.
const record = () => {
  window.__tasks = [];
  window.__streams = [];
  const note = (node) => {
    if (node.classList?.contains('bg-task')) window.__tasks.push([node.dataset.task, node.dataset.status]);
  };
  new MutationObserver((changes) => {
    for (const c of changes) {
      for (const added of c.addedNodes) if (added.nodeType === 1) note(added);
      for (const gone of c.removedNodes)
        if (gone.id === 'chat-streaming') {
          const text = gone.querySelector('.msg-text');
          window.__streams.push({ pieces: text.childNodes.length, text: text.textContent });
        }
    }
  }).observe(document, { subtree: true, childList: true });
};

// Once `page` shows conversation `id`: the page takes a new hash on its
// hashchange event, after goto has returned, and until then what is on it
// (main's data-stream and data-state too) is the last view's.
const showing = (page, id) => page.locator('h1.run-title', { hasText: id }).waitFor();

const send = async (page, text) => {
  await page.locator('#chat-input').fill(text);
  await page.keyboard.press('Enter');
};

try {
  const page = await newPage(browser);
  await page.addInitScript(record);

  // ---- start a conversation from the form -------------------------------------------------
  await page.goto(`${server.url}/#/threads`);
  await page.locator('#threads-empty').waitFor();
  await page.locator('#thread-flow option[value=assistant]').waitFor({ state: 'attached' });
  await page.selectOption('#thread-flow', 'assistant');
  await page.selectOption('#thread-strategy', 'enqueue');
  await page.locator('form[aria-label="Start a conversation"] button[type=submit]').click();
  await page.waitForURL(/#\/thread\//);
  const threadId = decodeURIComponent(page.url().split('#/thread/')[1]);
  await showing(page, threadId);
  await page.locator('main[data-stream=live]').waitFor();
  ok(await page.evaluate(() => document.activeElement?.id) === 'chat-input',
     'a conversation opens with the message box focused');

  // ---- a reply streams in ------------------------------------------------------------------
  await send(page, 'hello');
  await page.locator('.msg-user[data-seq="1"]', { hasText: 'hello' }).waitFor();
  const hello = 'Hello! Ask me for the weather in Paris, the weather in five cities, or some research.';
  await page.locator('.msg-assistant[data-seq="2"]').waitFor();
  ok(await page.locator('.msg-assistant[data-seq="2"] .msg-text').textContent() === hello,
     'the assistant\'s reply arrives');
  const streams = await page.evaluate(() => window.__streams);
  ok(streams.length === 1 && streams[0].pieces > 1 && streams[0].text === hello,
     'it streamed in, piece by piece, before its message replaced it', JSON.stringify(streams));
  ok(await page.locator('#chat-input').inputValue() === '', 'the box is emptied once sent');

  // ---- a background task: running, then completed; its notice, its answer ------------------
  await send(page, 'weather in Paris');
  // Its second of running may be over before a loaded machine looks: that
  // it was shown running is read from what the page recorded (below).
  await page.locator('.bg-task[data-task=t1]').waitFor();
  ok((await page.locator('.msg-assistant .tool-call', { hasText: 'weather' }).textContent())
       .includes('"city": "Paris"'), 'the tool call is shown with its arguments');
  ok((await page.locator('.msg-tool').first().textContent()).includes('"status": "running"'),
     'and its result, the task started');
  await page.locator('.bg-task[data-task=t1][data-status=completed]').waitFor({ timeout: 20000 });
  const notice = page.locator('.msg-notice', { hasText: 'Background task t1 (weather) completed' });
  await notice.waitFor();
  ok((await notice.textContent()).includes('Paris: 18 C, light wind (simulated)'),
     'its result comes back as a notice');
  await page.locator('.msg-assistant', { hasText: 'It is back:' }).waitFor();
  ok(true, 'and the assistant tells it');
  const states = (await page.evaluate(() => window.__tasks)).filter(([t]) => t === 't1')
    .map(([, s]) => s);
  ok(states.indexOf('running') >= 0 && states.indexOf('running') < states.indexOf('completed'),
     'the task went running → completed', JSON.stringify(states));
  const elapsed = await page.locator('.bg-task[data-task=t1] .elapsed').textContent();
  ok(/^\d+(\.\d+)? s$|^\d+ ms$/.test(elapsed), 'with its time', elapsed);
  ok(await page.locator('.msg-user.queued').count() === 0, 'no message left waiting');
  ok(await page.locator('#thread-state').textContent() === 'idle', 'the thread is idle again');
  await screenshot(page, 'chat.png');

  // ---- the list of conversations ------------------------------------------------------------
  await page.goto(`${server.url}/#/threads`);
  await page.locator(`tr[data-thread="${threadId}"]`).waitFor();
  ok((await page.locator(`tr[data-thread="${threadId}"]`).textContent()).includes('assistant'),
     'the conversation is listed');
  const other = await api(server.url, 'POST', '/v1/threads', { flow: 'assistant' });
  await page.locator(`tr[data-thread="${other.body.thread_id}"]`).waitFor();
  ok(await page.locator('#threads tbody tr').first().getAttribute('data-thread')
       === other.body.thread_id, 'one started elsewhere appears, first, without a reload');

  // ---- cancel a slow background task ----------------------------------------------------------
  const slowThread = await api(server.url, 'POST', '/v1/threads', { flow: 'slow-assistant' });
  await page.goto(`${server.url}/#/thread/${slowThread.body.thread_id}`);
  await showing(page, slowThread.body.thread_id);
  await page.locator('main[data-stream=live]').waitFor();
  await send(page, 'weather in Paris');
  const task = page.locator('.bg-task[data-task=t1]');
  await task.and(page.locator('[data-status=running]')).waitFor();
  // The box takes a message while the task runs, and it is answered (the
  // model's check_all_tasks says where things stand).
  ok(await page.locator('#chat-input').isEnabled(), 'the box is usable while a task runs');
  await send(page, 'how is it going');
  await page.locator('.msg-assistant', { hasText: 'Here is where things stand' }).waitFor();
  ok(await task.getAttribute('data-status') === 'running',
     'a message sent meanwhile is answered while the task runs');
  // The page counts it on once a second, on a timer a loaded machine may run late.
  const counted = () => task.locator('.elapsed').textContent();
  ok(await waitFor(async () => /^[1-9][.\d]* s$/.test(await counted()), 'the time to go on')
       .catch(() => false), 'a running task\'s time goes on', await counted());
  await task.locator('button.danger').click();
  await task.and(page.locator('[data-status=cancelled]')).waitFor({ timeout: 10000 });
  await page.locator('.msg-notice', { hasText: 'was cancelled' }).waitFor();
  ok(true, 'a background task is cancelled from its button, and its notice arrives');

  // ---- talking over a turn: a message waits, one is refused, a turn is stopped --------------------
  const talk = await api(server.url, 'POST', '/v1/threads', { flow: 'thinker' });
  await page.goto(`${server.url}/#/thread/${talk.body.thread_id}`);
  await showing(page, talk.body.thread_id);
  await page.locator('main[data-stream=live]').waitFor();
  await send(page, 'hello');
  await page.locator('main[data-state=busy]').waitFor();
  ok(await page.locator('#chat-stop').isEnabled() && await page.locator('#chat-input').isEnabled(),
     'while a turn runs, the box is usable and the answer can be stopped');
  await send(page, 'hello again');
  await page.locator('.msg-user.queued', { hasText: 'hello again' }).waitFor();
  ok(true, 'a message sent during the turn waits (enqueue)');
  await page.locator('.msg-user[data-seq="3"]', { hasText: 'hello again' }).waitFor({ timeout: 20000 });
  ok(await page.locator('.msg-user.queued').count() === 0
     && await page.locator('.msg-assistant[data-seq="2"]').count() === 1,
     'and enters the history after the answer to the first');
  await page.locator('main[data-state=busy]').waitFor();
  await page.click('#chat-stop');
  await page.locator('.msg-turn-end', { hasText: 'turn 2' }).waitFor({ timeout: 10000 });
  ok(/turn 2\) (cancelled|interrupted)/.test(await page.locator('.msg-turn-end').textContent()),
     'a turn stopped from its button says so', await page.locator('.msg-turn-end').textContent());
  await page.locator('main[data-state=idle]').waitFor();

  const strict = await api(server.url, 'POST', '/v1/threads', { flow: 'thinker', strategy: 'reject' });
  await page.goto(`${server.url}/#/thread/${strict.body.thread_id}`);
  await showing(page, strict.body.thread_id);
  await page.locator('main[data-stream=live]').waitFor();
  await send(page, 'hello');
  await page.locator('main[data-state=busy]').waitFor();
  await send(page, 'not now');
  await page.locator('#chat-status .error', { hasText: 'Not sent' }).waitFor();
  ok(await page.locator('#chat-input').inputValue() === 'not now'
     && await page.locator('.msg-user.queued').count() === 0,
     'a message the thread refuses (reject) says why and stays in the box');

  // ---- phone size, dark scheme -----------------------------------------------------------------
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}/#/thread/${threadId}`);
  await showing(page, threadId);
  await page.locator('.msg-notice').first().waitFor();
  const wider = await overflow(page);
  ok(wider <= 0, 'nothing overflows a phone\'s width', `${wider}px`);
  await screenshot(page, 'chat-phone.png');
  errors.push(...page.errors);
  await checkDark(browser, `${server.url}/#/thread/${threadId}`, '.msg-notice', 'chat-dark.png',
                  errors);
} catch (error) {
  ok(false, 'the walk through a conversation', error.stack);
}

// Chromium logs the refused message's 409 as it logs any failed request:
// that one was asked for.
const refusals = errors.filter((e) => /responded with a status of 409/.test(e));
const others = errors.filter((e) => !refusals.includes(e));
ok(others.length === 0 && refusals.length <= 1, 'no console error', errors.join('\n'));
await browser.close();
const code = await server.stop();
ok(code === 0, 'weft serve stopped cleanly', server.log());
mock.stop();
slowMock.stop();
finish();
