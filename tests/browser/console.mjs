// The administrators' console in a real Chromium, driven by playwright-core; run by the `browser`
// integration test (crates/fabrique/tests/it/browser.rs), which starts the server, makes `eve` an
// administrator of entity `acme` and `gaston` a group administrator, and mints each a one-time
// sign-in link (FABRIQUE_LINK, FABRIQUE_GROUP_ADMIN_LINK). The group's data policy
// pseudonymizes IBANs, which the policies page's dry run shows.
//
// Environment: FABRIQUE_URL (the server), FABRIQUE_LINK (the sign-in link), FABRIQUE_BROWSER_MODULES
// (a node_modules holding playwright-core and axe-core), CHROMIUM (the browser's executable),
// SCREENSHOTS (where pages are saved). Prints one line per check passed; exits non-zero on the
// first that fails.

import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';

const require = createRequire(`${process.env.FABRIQUE_BROWSER_MODULES}/`);
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const url = process.env.FABRIQUE_URL.replace(/\/$/, '');
const screenshots = process.env.SCREENSHOTS;
mkdirSync(screenshots, { recursive: true });

/** No serious or critical accessibility violation on the page as it is now. */
async function accessible(page, what) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run());
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${what}: accessibility`);
  console.log(`ok: ${what} has no serious or critical accessibility violation`);
}

/** Opens a console page, checks it, and keeps its screenshot. */
async function visit(page, path, heading, shot) {
  await page.goto(`${url}${path}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await accessible(page, `the console's ${shot} page`);
  await page.screenshot({ path: `${screenshots}/console-${shot}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const context = await browser.newContext({ locale: 'fr-FR' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));

  // Signed out, the console asks to sign in first.
  const response = await page.goto(`${url}/console`);
  assert.equal(response.status(), 401);
  await page.getByRole('link', { name: 'Se connecter' }).waitFor();
  console.log('ok: signed out, the console asks to sign in');
  errors.length = 0; // the browser logs that 401 as a failed load: expected

  // The one-time link signs eve in; the console opens in French.
  await page.goto(process.env.FABRIQUE_LINK);
  await visit(page, '/console', "Vue d'ensemble", 'overview');
  const chart = page.locator('#usage-chart svg[role="img"]');
  await chart.waitFor();
  assert.ok((await chart.locator('polyline').count()) >= 1, 'the chart has a line');
  assert.match(await chart.textContent(), /acme/);
  console.log('ok: the usage chart is drawn, as SVG from the server');
  await page.selectOption('select[name="by"]', 'model');
  await page.getByRole('button', { name: 'Afficher' }).click();
  await page.locator('#usage-chart svg').getByText('mistral-small').first().waitFor();
  console.log('ok: the chart regroups by model');

  // Users: her entity's only; searching another entity's user finds nobody.
  await visit(page, '/console/users', 'Utilisateurs', 'users');
  const users = page.locator('#users tbody th');
  const names = await users.allTextContents();
  assert.ok(names.includes('heloise') && names.includes('eve'), `acme's users: ${names}`);
  assert.ok(!names.includes('gina'), 'globex\'s user is not listed');
  await page.getByLabel('Rechercher').fill('HÉLO');
  await page.keyboard.press('Enter');
  await page.waitForURL(/q=/);
  assert.deepEqual(await page.locator('#users tbody th').allTextContents(), ['heloise']);
  await page.goto(`${url}/console/users?q=gina`);
  assert.equal(await page.locator('#users').count(), 0, 'another entity\'s user stays unseen');
  console.log('ok: an entity administrator sees her entity\'s users only, searched without accents');

  // Keys: created for heloise, the secret shown once, then revoked.
  await visit(page, '/console/keys', "Clés d'API", 'keys');
  const create = page.locator('#create-key');
  await create.getByLabel('Utilisateur').fill('heloise');
  await create.getByLabel('Libellé').fill('laptop');
  await create.getByRole('button', { name: 'Créer' }).click();
  const secret = (await page.locator('#secret').textContent()).trim();
  assert.match(secret, /^fabk_/);
  await page.screenshot({ path: `${screenshots}/console-key-created.png`, fullPage: true });
  await accessible(page, 'the console\'s new key page');
  const row = page.locator('#keys tbody tr', { hasText: 'laptop' });
  await row.waitFor();
  await page.goto(`${url}/console/keys`);
  assert.equal(await page.locator('#secret').count(), 0, 'the secret is not shown again');
  assert.ok(!(await page.content()).includes(secret), 'nor anywhere in the page');
  const models = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(models.status, 200, 'the new key works');
  await page.locator('#keys tbody tr', { hasText: 'laptop' }).getByRole('button', { name: /^Révoquer/ }).click();
  await page.locator('#keys tbody tr', { hasText: 'laptop' }).getByText('Révoquée').waitFor();
  const refused = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(refused.status, 401, 'the revoked key is refused');
  console.log('ok: a key is created (its secret shown once) and revoked');

  await visit(page, '/console/sessions', 'Sessions web', 'sessions');
  assert.ok((await page.locator('#sessions tbody tr').count()) >= 1, 'her own session is listed');
  await visit(page, '/console/roles', 'Rôles', 'roles');
  await visit(page, '/console/teams', 'Équipes', 'teams');
  await visit(page, '/console/audit', "Journal d'audit", 'audit');
  assert.ok((await page.locator('#audit tbody tr', { hasText: 'key.revoke' }).count()) >= 1);
  console.log('ok: the audit trail shows the revocation');

  // Policies: her entity's policy in force, tried on sample text with the keyboard.
  await visit(page, '/console/policies', 'Politiques de données', 'policies');
  assert.equal(await page.locator('#effective ~ table tr', { hasText: 'IBAN' }).locator('td').first().textContent(), 'pseudonymisé');
  await page.getByLabel("Texte d'essai").fill('Virez sur FR76 3000 6000 0112 3456 7890 189, merci.');
  await page.getByLabel("Texte d'essai").press('Tab');
  await page.keyboard.press('Enter');
  await page.locator('#result mark.pii.pseudonymize').waitFor();
  assert.match(await page.locator('pre.sent').textContent(), /^Virez sur \[IBAN_1\], merci\.$/);
  await accessible(page, 'the console\'s dry run');
  await page.screenshot({ path: `${screenshots}/console-policies-dry-run.png`, fullPage: true });
  const otherPolicy = await page.goto(`${url}/console/policies?entity=globex`);
  assert.equal(otherPolicy.status(), 404, 'another entity\'s policy is unknown to her');
  errors.length = 0; // the browser logs that 404 as a failed load: expected
  console.log('ok: the policies page shows her entity\'s policy and runs a dry run');

  // A form without its token is refused.
  const forged = await page.request.post(`${url}/console/keys/key_x/revoke`, {
    form: { csrf: 'forged' },
    headers: { origin: url },
  });
  assert.equal(forged.status(), 403);
  console.log('ok: a forged form is refused');

  // English on request, and the keyboard reaches the navigation.
  await page.selectOption('#lang', 'en');
  await page.getByRole('button', { name: 'Changer' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to content');
  console.log('ok: the console speaks English when asked, and starts with a skip link');

  // An entity administrator's navigation has no GPU pools, and the page refuses her.
  const sections = await page.getByRole('navigation').getByRole('link').allTextContents();
  assert.ok(sections.includes('Users') && !sections.includes('GPU pools'), `her sections: ${sections}`);
  const pools = await page.goto(`${url}/console/pools`);
  assert.equal(pools.status(), 403);
  assert.equal(await page.locator('form.share').count(), 0, 'no weights form');
  assert.ok(!(await page.content()).includes('globex'), 'nothing of another entity');
  console.log('ok: an entity administrator sees neither the GPU pools nor their weights form');
  errors.length = 0; // the browser logs that 403 as a failed load: expected

  assert.deepEqual(errors, [], 'no script error nor CSP violation');
  console.log('ok: no error in the browser console');

  // A group administrator, in a browser of his own, changes acme's weight in the GPU pool.
  const groupContext = await browser.newContext({ locale: 'fr-FR' });
  const admin = await groupContext.newPage();
  admin.on('pageerror', (error) => errors.push(error.message));
  await admin.goto(process.env.FABRIQUE_GROUP_ADMIN_LINK);
  await visit(admin, '/console', "Vue d'ensemble", 'overview-group');
  const adminSections = await admin.getByRole('navigation').getByRole('link').allTextContents();
  assert.ok(adminSections.includes('Pools GPU'), `his sections: ${adminSections}`);
  await visit(admin, '/console/pools', 'Pools GPU', 'pools');
  const endpoint = admin.locator('table.endpoints tbody tr').first();
  await endpoint.getByText('disponible').waitFor();
  console.log('ok: the pools page shows each endpoint\'s health and requests in flight');
  const acmeRow = admin.locator('tr', { hasText: 'acme' });
  await acmeRow.getByLabel(/^Poids/).fill('7');
  await acmeRow.getByRole('button', { name: /^Enregistrer/ }).click();
  await admin.getByRole('heading', { level: 1, name: 'Pools GPU' }).waitFor();
  assert.equal(await admin.locator('tr', { hasText: 'acme' }).getByLabel(/^Poids/).inputValue(), '7');
  await admin.screenshot({ path: `${screenshots}/console-pools-weight-changed.png`, fullPage: true });
  console.log('ok: a group administrator changes an entity\'s weight in a GPU pool');

  await visit(admin, '/console/seats', 'Sièges', 'seats');
  await visit(admin, '/console/scim-tokens', 'Jetons SCIM', 'scim-tokens');
  await visit(admin, '/console/audit', "Journal d'audit", 'audit-group');
  await admin.getByRole('button', { name: 'Vérifier la chaîne' }).click();
  await admin.getByText('La chaîne est intacte').waitFor();
  await accessible(admin, 'the console\'s chain verification');
  await admin.screenshot({ path: `${screenshots}/console-audit-verified.png`, fullPage: true });
  await visit(admin, '/console/audit?action=pool_share', "Journal d'audit", 'audit-pool-share');
  assert.ok((await admin.locator('#audit tbody tr', { hasText: 'pool_share.set' }).count()) >= 1);
  console.log('ok: the weight change is audited, and the chain verifies from the page');
  await visit(admin, '/console/content', 'Contenus conservés', 'content');
  assert.ok((await admin.getByRole('note').textContent()).includes("journal d'audit"), 'the read is said to be audited');
  // The AI Factory: the use cases, one use case's diff, a version submitted from its page.
  await visit(admin, '/console/use-cases', "Cas d'usage", 'use-cases');
  assert.ok((await admin.locator('#use-cases tbody tr', { hasText: 'élevé' }).count()) === 1, 'its risk class');
  await admin.getByRole('link', { name: 'Lecteur de factures' }).click();
  await admin.getByRole('heading', { level: 2, name: 'Versions' }).waitFor();
  await accessible(admin, 'the console\'s use case page');
  await admin.getByRole('button', { name: 'Comparer' }).click();
  await admin.locator('#diff pre.diff').waitFor();
  assert.match(await admin.locator('#diff pre.diff').textContent(), /\+Read the invoice of \{\{client\}\}/);
  await accessible(admin, 'the console\'s diff of two versions');
  await admin.screenshot({ path: `${screenshots}/console-use-case-diff.png`, fullPage: true });
  const v2 = admin.locator('#versions tbody tr', { hasText: 'v2' });
  await v2.getByLabel('Motif').first().fill('prête pour la revue');
  await v2.getByRole('button', { name: 'Soumettre v2' }).click();
  await admin.locator('#transitions tbody tr', { hasText: 'prête pour la revue' }).waitFor();
  assert.match(await admin.locator('#versions tbody tr', { hasText: 'v2' }).textContent(), /en revue/);
  await accessible(admin, 'the console\'s use case page after a move');
  await admin.screenshot({ path: `${screenshots}/console-use-case-submitted.png`, fullPage: true });
  console.log('ok: a use case\'s versions are compared and one is submitted for review from the console');
  assert.deepEqual(errors, [], 'no script error in the group administrator\'s pages');
} finally {
  await browser.close();
}
