// bench/chat-paint.mjs: how soon after the page receives a streamed answer's first fragment is it
// on screen? Run by bench/chat.sh (section `paint`) against its server, in Debian's Chromium
// driven by playwright-core (the modules tests/browser/package.json pins).
//
// The page's own code is left as it is; an init script notes when a chunk holding the first
// `answer` event is handed to the page's script (the stream reader's `read()` resolving: the
// gateway's relay as the page sees it), and a MutationObserver when the answer's body first
// changes; a frame later (requestAnimationFrame, then a task) the change has been painted.
// Environment: CHAT_URL, CHAT_COOKIE (`name=value; …`), BROWSER_MODULES, CHROMIUM, QUESTIONS.
// Prints one table row per measure: p50, p99 and max in ms.

import { createRequire } from 'node:module';

const require = createRequire(`${process.env.BROWSER_MODULES}/`);
const { chromium } = require('playwright-core');

const url = process.env.CHAT_URL;
const questions = Number(process.env.QUESTIONS || 50);
const cookies = process.env.CHAT_COOKIE.split('; ').map((pair) => {
  const [name, ...value] = pair.split('=');
  return { name, value: value.join('='), url };
});

/** Installed in the page before its own script: the times of the first answer's steps. */
function watch() {
  window.firstAnswer = {};
  const read = ReadableStreamDefaultReader.prototype.read;
  ReadableStreamDefaultReader.prototype.read = async function () {
    const result = await read.call(this);
    if (typeof result.value === 'string' && result.value.includes('event: answer')) {
      window.firstAnswer.received ??= performance.now();
    }
    return result;
  };
  new MutationObserver((mutations) => {
    const answered = mutations.some((m) => m.target.closest?.('.turn.assistant .body'));
    if (!answered || window.firstAnswer.shown) return;
    window.firstAnswer.shown = performance.now();
    requestAnimationFrame(() => {
      const after = new MessageChannel();
      after.port1.onmessage = () => { window.firstAnswer.painted = performance.now(); };
      after.port2.postMessage(null);
    });
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

function percentile(xs, p) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const context = await browser.newContext();
  await context.addCookies(cookies);
  await context.addInitScript(watch);
  const page = await context.newPage();
  const toDom = [];
  const toScreen = [];
  for (let i = 0; i < questions; i += 1) {
    await page.goto(url);
    await page.fill('#question', `question ${i}`);
    await page.press('#question', 'Enter');
    await page.locator('.turn.assistant .actions').waitFor();
    await page.waitForFunction(() => window.firstAnswer.painted !== undefined);
    const t = await page.evaluate(() => window.firstAnswer);
    if (t.received === undefined) throw new Error('no answer event was seen');
    toDom.push(t.shown - t.received);
    toScreen.push(t.painted - t.received);
  }
  for (const [what, xs] of [['in the page (DOM changed)', toDom], ['on screen (next frame)', toScreen]]) {
    const row = [0.5, 0.99, 1].map((p) => percentile(xs, p).toFixed(1)).join(' | ');
    console.log(`| first answer fragment received → ${what} | ${row} |`);
  }
} finally {
  await browser.close();
}
