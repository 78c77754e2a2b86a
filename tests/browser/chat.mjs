// The chat in a real Chromium, driven by playwright-core; run by the `browser` integration test
// (crates/fabrique/tests/it/browser.rs), which starts the server and signs the person in.
//
// Environment: FABRIQUE_URL (the server), FABRIQUE_SESSION (the session cookie, `name=value`),
// FABRIQUE_BROWSER_MODULES (a node_modules holding playwright-core and axe-core), CHROMIUM (the
// browser's executable), SCREENSHOTS (where pages are saved). Prints one line per check passed;
// exits non-zero on the first that fails.

import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';

const require = createRequire(`${process.env.FABRIQUE_BROWSER_MODULES}/`);
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const url = process.env.FABRIQUE_URL;
const screenshots = process.env.SCREENSHOTS;
mkdirSync(screenshots, { recursive: true });
const [name, ...rest] = process.env.FABRIQUE_SESSION.split('=');
const session = { name, value: rest.join('='), url };

/** No serious or critical accessibility violation on the page as it is now. */
async function accessible(page, what) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run());
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${what}: accessibility`);
  console.log(`ok: ${what} has no serious or critical accessibility violation`);
}

/** Sends a question with `model`; returns its answer's turn once it appears. */
async function ask(page, model, question) {
  const before = await page.locator('.turn.assistant').count();
  await page.selectOption('#model', model);
  await page.fill('#question', question);
  await page.press('#question', 'Enter');
  const answer = page.locator('.turn.assistant').nth(before);
  await answer.waitFor();
  return answer;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const signedOut = await browser.newPage({ locale: 'fr-FR' });
  await signedOut.goto(url);
  await signedOut.getByRole('heading', { name: 'Connexion' }).waitFor();
  await signedOut.screenshot({ path: `${screenshots}/sign-in.png`, fullPage: true });
  await accessible(signedOut, 'the sign-in page');

  const context = await browser.newContext({ locale: 'fr-FR' });
  await context.addCookies([session]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  await page.goto(url);
  await page.getByLabel('Votre question').waitFor();
  await accessible(page, 'the chat page');

  // Model output holding a script and a javascript: link is shown, never run or followed.
  const hostile = '**gras** <script>window.pwned = 1</script> [clic](javascript:window.pwned=2)';
  const answer = await ask(page, 'mistral-small', hostile);
  await answer.locator('.actions').waitFor();
  assert.equal(await answer.locator('strong').textContent(), 'gras');
  assert.match(await answer.locator('.body').textContent(), /<script>window\.pwned = 1<\/script>/);
  assert.equal(await answer.locator('script').count(), 0);
  assert.equal(await page.locator('a[href^="javascript"]').count(), 0);
  await answer.getByText('clic').click();
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'nothing ran');
  console.log('ok: a streamed answer is shown, its script and javascript: link inert');

  // Feedback on the answer, with a comment, stored against its usage record.
  await answer.getByRole('button', { name: 'Utile', exact: true }).click();
  await answer.getByLabel('Commentaire (facultatif)').fill('Clair et exact');
  await answer.getByRole('button', { name: 'Envoyer l’avis' }).click();
  await answer.getByText('Merci pour votre avis.').waitFor();
  console.log('ok: feedback given');

  // Footnotes link to their notes; two answers on one page never share an id; a note's label
  // and text stay inert.
  const noted = 'Une note[^1] et une autre[^x"onclick="window.pwned=3].\n\n[^1]: La source.\n\n'
    + '[^x"onclick="window.pwned=3]: [clic](javascript:window.pwned=4)';
  const notes = [];
  for (let i = 0; i < 2; i += 1) {
    const footnoted = await ask(page, 'mistral-small', noted);
    await footnoted.locator('.actions').waitFor();
    const reference = footnoted.locator('sup.footnote-reference a').first();
    const href = await reference.getAttribute('href');
    const note = footnoted.locator('.footnote-definition').first();
    assert.equal(`#${await note.getAttribute('id')}`, href, 'the reference links to its note');
    assert.match(await note.textContent(), /La source\./);
    await reference.click();
    assert.equal(await page.evaluate(() => window.location.hash), href);
    await footnoted.locator('.footnote-definition').getByText('clic').click();
    notes.push(href);
  }
  assert.notEqual(notes[0], notes[1], 'each answer names its own notes');
  assert.equal(await page.locator(`[id="${notes[1].slice(1)}"]`).count(), 1);
  assert.equal(await page.locator('[onclick], a[href^="javascript"]').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'nothing ran');
  console.log('ok: footnotes link to their own answer\'s notes, inert');
  await page.screenshot({ path: `${screenshots}/chat-answer.png`, fullPage: true });

  // Personal data hidden from the model is noticed by kind and count.
  const noticed = await ask(page, 'mistral-small', 'Virement vers FR76 3000 6000 0112 3456 7890 189');
  await noticed.locator('.actions').waitFor();
  assert.equal(await noticed.locator('.notice').textContent(), '1 IBAN pseudonymisé(s) avant l’envoi');
  console.log('ok: the pseudonymization notice names the kind and count');
  await page.screenshot({ path: `${screenshots}/chat-notice.png`, fullPage: true });

  // Stop mid-stream: the answer stops where it was; the server charges what was generated.
  const slow = await ask(page, 'mistral-slow', 'Racontez une longue histoire');
  await slow.locator('.body').filter({ hasText: /\S/ }).waitFor();
  await page.click('#stop');
  await page.locator('#status').filter({ hasText: 'Réponse arrêtée.' }).waitFor();
  assert.equal(await page.locator('#stop').isVisible(), false);
  console.log('ok: stopped mid-stream');
  await page.screenshot({ path: `${screenshots}/chat-stopped.png`, fullPage: true });
  await accessible(page, 'the chat page with answers');

  // A document attached: read on the server, its text sent with the question.
  await page.goto(url);
  await page.getByLabel('Votre question').waitFor();
  await page.setInputFiles('#attachment', {
    name: 'note.md',
    mimeType: 'text/markdown',
    buffer: Buffer.from('# Note\n\nLa facture Colbert est payée.\n'),
  });
  await page.locator('#attached-name').filter({ hasText: 'note.md' }).waitFor();
  const summary = await ask(page, 'mistral-small', 'Résumez ce document.');
  await summary.locator('.actions').waitFor();
  assert.match(await summary.locator('.body').textContent(), /La facture Colbert est payée\./);
  assert.equal(await page.locator('#attached').isVisible(), false, 'the document went with the question');
  console.log('ok: an attached document is read and sent with the question');
  await page.screenshot({ path: `${screenshots}/chat-attachment.png`, fullPage: true });

  // The person's conversations, grouped by date and searched; an answer rated once reopened.
  await page.goto(url);
  await page.getByRole('heading', { name: 'Aujourd’hui' }).waitFor();
  await page.getByLabel('Rechercher', { exact: true }).fill('colbert');
  await page.getByLabel('Rechercher', { exact: true }).press('Enter');
  const found = page.locator('#found a');
  await found.first().waitFor();
  assert.equal(await found.count(), 1, 'one conversation holds the word');
  await accessible(page, 'the search results');
  await page.screenshot({ path: `${screenshots}/chat-search.png`, fullPage: true });
  await found.first().click();
  const reopened = page.locator('.turn.assistant').last();
  await reopened.getByRole('button', { name: 'Pas utile', exact: true }).click();
  await reopened.getByRole('button', { name: 'Envoyer l’avis' }).click();
  await reopened.getByText('Merci pour votre avis.').waitFor();
  console.log('ok: a conversation found by search, reopened, its answer rated');

  // Continued: the page sends the question alone, the server the conversation it keeps.
  const next = await ask(page, 'mistral-small', 'Et la facture Vauban ?');
  await next.locator('.actions').waitFor();
  assert.match(await next.locator('.body').textContent(), /Et la facture Vauban \?/);
  console.log('ok: a reopened conversation continued');

  // An assistant: a deployed use case of the person's entity, asked with its variable.
  await page.goto(url);
  await page.selectOption('#model', 'usecase/letters');
  await page.getByLabel('client').fill('Ada');
  const letter = await ask(page, 'usecase/letters', 'Bonjour');
  await letter.locator('.actions').waitFor();
  assert.match(await letter.locator('.body').textContent(), /Bonjour/);
  console.log('ok: an assistant answers');
  await accessible(page, 'the chat page with an assistant');

  // Ask this library: one the person may read, the answer's sources shown under it.
  await page.goto(url);
  await page.getByLabel('Bibliothèque').selectOption({ label: 'Politiques RH' });
  const cited = await ask(page, 'mistral-small', 'Combien de jours de congés payés ?');
  await cited.locator('.actions').waitFor();
  await cited.locator('.sources summary').click();
  await cited.locator('.sources li').filter({ hasText: 'conges.md, page 1' }).waitFor();
  console.log('ok: a library asked, its sources shown under the answer');
  await accessible(page, 'the chat page with a library asked');
  await page.screenshot({ path: `${screenshots}/chat-library.png`, fullPage: true });

  // Sign-out ends the session: the page, reloaded, asks to sign in.
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await page.getByRole('heading', { name: 'Connexion' }).waitFor();
  await page.goto(url);
  await page.getByRole('heading', { name: 'Connexion' }).waitFor();
  console.log('ok: signed out');

  assert.deepEqual(errors, [], 'no script error, no CSP violation');
  console.log('ok: no script error and no CSP violation');
} finally {
  await browser.close();
}
