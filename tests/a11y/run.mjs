// Accessibility acceptance test of the Stadtkern web shell.
//
// Starts `stadtkern demo` on a fresh data directory and a free loopback port, then checks every
// listed page in German and in English:
//   - axe-core with the WCAG 2.0/2.1 A and AA rules (tags wcag2a, wcag2aa, wcag21a, wcag21aa):
//     any violation fails the page;
//   - the page works without JavaScript: loaded with JavaScript disabled it has a <main>
//     landmark, exactly one non-empty <h1>, the right `lang` on <html>, and the forms it is
//     expected to have (each with a submit button);
//   - keyboard: the first Tab reaches the skip link, which is then visible with a focus outline;
//     on a page with an error summary, focus starts on the summary;
//   - the server answered with the expected status.
// Staff and admin pages are checked after signing in through the login form with the demo
// admin, whose password `demo` prints on standard output. Sub-pages of /admin are found by
// following the /admin/... links on /admin and on the pages it links to.
//
// Prints one line per page and language and ends with `N passed, M failed`; exits 1 on any
// failure.
//
// Environment: STADTKERN_BIN (default target/debug/stadtkern), CHROMIUM (default
// /usr/bin/chromium), A11Y_BEST_PRACTICE=1 (axe best-practice findings as notes),
// A11Y_VERBOSE=1 (server log on success too).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.STADTKERN_BIN || path.join(ROOT, 'target', 'debug', 'stadtkern');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// A11Y_BEST_PRACTICE=1 also runs axe's best-practice rules and prints their findings as notes.
const BEST_PRACTICE = process.env.A11Y_BEST_PRACTICE === '1';
const VERBOSE = process.env.A11Y_VERBOSE === '1';
const LANGS = [
  { code: 'de', locale: 'de-DE', accept: 'de-DE,de;q=0.9' },
  { code: 'en', locale: 'en-GB', accept: 'en-GB,en;q=0.9' },
];
// A wrong password for the login error page. It is tried with the demo staff account (four
// attempts: two languages, with and without JavaScript), never with the admin, so the admin's
// sign-in is not throttled.
const WRONG_PASSWORD = 'definitely-not-the-password-123';

/** Public pages: path, expected status, forms that must be there without JavaScript. */
const PUBLIC_PAGES = [
  { name: 'front page', path: '/', status: 200 },
  { name: 'login', path: '/login', status: 200, forms: ['form[action="/login"]'] },
  {
    name: 'login error (wrong password)', path: '/login', status: 401, errorSummary: true, forms: ['form[action="/login"]'],
    submit: { form: 'form[action="/login"]', fill: (d) => ({ '#field-username': d.victim, '#field-password': WRONG_PASSWORD }) },
  },
  { name: 'imprint', path: '/impressum', status: 200 },
  { name: 'roadworks', path: '/baustellen', status: 200, forms: ['form[action="/baustellen/abo"]'] },
  { name: 'free parking spaces', path: '/parken', status: 200 },
  { name: 'traffic flow', path: '/verkehr', status: 200 },
  { name: 'street lighting', path: '/licht', status: 200, forms: ['form[action="/licht/melden"]'] },
  {
    name: 'street-light report error (empty form)', path: '/licht', status: 400, errorSummary: true, forms: ['form[action="/licht/melden"]'],
    submit: { form: 'form[action="/licht/melden"]', fill: () => ({}) },
  },
  { name: 'street-lighting energy', path: '/licht/energie', status: 200 },
  { name: 'building energy', path: '/energie', status: 200 },
  { name: 'service catalog', path: '/leistungen', status: 200, forms: ['form[action="/leistungen"]'] },
  { name: 'service search', path: '/leistungen?q=Hundesteuer', status: 200, forms: ['form[action="/leistungen"]'] },
  { name: 'service page', path: '/leistungen/1', status: 200 },
  // The demo's seventh service, the dog tax, has an online form.
  { name: 'online application', path: '/leistungen/7/antrag', status: 200, forms: ['form[action="/leistungen/7/antrag"]'] },
  {
    name: 'online application error (empty form)', path: '/leistungen/7/antrag', status: 400, errorSummary: true, forms: ['form[action="/leistungen/7/antrag"]'],
    submit: { form: 'form[action="/leistungen/7/antrag"]', fill: () => ({}) },
  },
  { name: 'applications and status check', path: '/antraege', status: 200, forms: ['form[action="/antraege/status"]'] },
  {
    name: 'status check error (unknown reference)', path: '/antraege', status: 404, errorSummary: true, forms: ['form[action="/antraege/status"]'],
    submit: { form: 'form[action="/antraege/status"]', fill: () => ({ '#field-reference': 'A-00000000', '#field-secret': 'FALSCH' }) },
  },
  { name: 'appointment booking', path: '/termine', status: 200, forms: ['form[action="/termine"]'] },
  { name: 'appointment times', path: '/termine?wahl=1:1', status: 200, forms: ['form[action="/termine"]'] },
  { name: 'manage an appointment', path: '/termine/verwalten', status: 200, forms: ['form[action="/termine/verwalten"]'] },
  { name: 'call display', path: '/termine/aufruf/1', status: 200 },
  { name: 'privacy', path: '/datenschutz', status: 200 },
  { name: 'accessibility statement', path: '/barrierefreiheit', status: 200, forms: ['main form'] },
  {
    name: 'barrier report error (empty form)', path: '/barrierefreiheit', status: [400, 422], errorSummary: true, forms: ['main form'],
    submit: { form: 'form[action="/barrierefreiheit/meldung"]', fill: () => ({}) },
  },
  { name: 'not found', path: '/diese-seite-gibt-es-nicht', status: 404 },
];
/** Pages behind the sign-in (the admin account also holds every staff-side right). */
const SIGNED_IN_PAGES = [
  { name: 'staff area', path: '/staff', status: 200 },
  { name: 'admin', path: '/admin', status: 200 },
  { name: 'roadworks permits', path: '/staff/baustellen', status: 200 },
  { name: 'roadworks application form', path: '/staff/baustellen/neu', status: 200, forms: ['form[action="/staff/baustellen"]'] },
  { name: 'roadworks permit', path: '/staff/baustellen/1', status: 200 },
  { name: 'roadworks coordination board', path: '/staff/baustellen/koordination', status: 200 },
  { name: 'street directory', path: '/staff/baustellen/strassen', status: 200 },
  { name: 'parking (staff)', path: '/staff/parken', status: 200, forms: ['form[action="/staff/parken"]'] },
  { name: 'street lighting (staff)', path: '/staff/licht', status: 200, forms: ['form[action="/staff/licht/auftraege"]'] },
  { name: 'lighting inventory', path: '/staff/licht/inventar', status: 200, forms: ['form[action="/staff/licht/schaltkreise"]'] },
  { name: 'lighting inventory, new pole', path: '/staff/licht/inventar?neu=pole', status: 200, forms: ['form[action="/staff/licht/masten"]'] },
  { name: 'lighting inventory, new luminaire', path: '/staff/licht/inventar?neu=luminaire', status: 200, forms: ['form[action="/staff/licht/leuchten"]'] },
  { name: 'lighting schedules', path: '/staff/licht/schaltplaene', status: 200, forms: ['form[action="/staff/licht/schaltplaene"]'] },
  { name: 'energy management', path: '/staff/energie', status: 200, forms: ['form[action="/staff/energie/gebaeude"]'] },
  { name: 'energy meter form', path: '/staff/energie?neu=meter', status: 200, forms: ['form[action="/staff/energie/zaehler"]'] },
  { name: 'emission factors form', path: '/staff/energie?neu=factors', status: 200, forms: ['form[action="/staff/energie/faktoren"]'] },
  { name: 'appointments day view (staff)', path: '/staff/termine', status: 200, forms: ['form[action="/staff/termine/wartenummer"]'] },
  { name: 'service catalog (staff)', path: '/staff/leistungen', status: 200, forms: ['form[action="/staff/leistungen/import"]'] },
  { name: 'new service form', path: '/staff/leistungen/neu', status: 200, forms: ['form[action="/staff/leistungen"]'] },
  { name: 'service edit form', path: '/staff/leistungen/1', status: 200, forms: ['form[action="/staff/leistungen/1"]'] },
  {
    name: 'new service error (empty form)', path: '/staff/leistungen/neu', status: 400, errorSummary: true, forms: ['form[action="/staff/leistungen"]'],
    submit: { form: 'form[action="/staff/leistungen"]', fill: () => ({}) },
  },
  { name: 'case inbox (staff)', path: '/staff/vorgaenge', status: 200 },
  { name: 'case file (staff)', path: '/staff/vorgaenge/1', status: 200, forms: ['form[action="/staff/vorgaenge/1"]'] },
  { name: 'payments and CAMT import (staff)', path: '/staff/zahlungen', status: 200, forms: ['form[action="/staff/zahlungen"]'] },
  { name: 'online form definition (staff)', path: '/staff/leistungen/7/formular', status: 200, forms: ['form[action="/staff/leistungen/7/formular"]'] },
  { name: 'my account', path: '/konto', status: 200 },
  { name: 'lighting calendar override', path: '/staff/licht/schaltplaene?neu=override', status: 200, forms: ['form[action="/staff/licht/ausnahmen"]'] },
];
const MAX_ADMIN_SUBPAGES = 30;

// ---------------------------------------------------------------------------------------------

function log(line) {
  process.stdout.write(line + '\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the demo city; resolves with the base URL, the admin login and a stop function. */
async function startDemo() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`${BIN} does not exist: build it first (cargo build -p stadtkern)`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stadtkern-a11y-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = path.join(dataDir, 'server.log');
  const logFd = fs.openSync(logFile, 'w');
  const child = spawn(BIN, ['demo', '--data-dir', path.join(dataDir, 'data'), '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', logFd],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) child.kill('SIGKILL');
    }
    fs.closeSync(logFd);
  };
  const serverLog = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) {
      throw new Error(`stadtkern demo exited (${JSON.stringify(exited)}) before it was ready:\n${stdout}\n${serverLog()}`);
    }
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`stadtkern demo was not ready within 60 s:\n${stdout}\n${serverLog()}`);
    }
    await sleep(100);
  }
  // The logins are printed right after "ready"; give the lines a moment to arrive.
  let admin = null;
  let other = null;
  for (let i = 0; i < 50 && !admin; i++) {
    for (const m of stdout.matchAll(/^\s+(\S+)\s+(\S+)\s+\((\w+)\)\s*$/gm)) {
      if (m[3] === 'admin') admin = { username: m[1], password: m[2] };
      else if (!other) other = { username: m[1], password: m[2] };
    }
    if (!admin) await sleep(100);
  }
  if (!admin) {
    await stop();
    throw new Error(`could not find the demo admin's password in the output of stadtkern demo:\n${stdout}`);
  }
  return { base, admin, victim: other ? other.username : 'niemand', stop, serverLog, dataDir };
}

/** Runs axe on the loaded page with the given tags; returns the violations. */
async function axeViolations(page, tags = AXE_TAGS) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  }, tags);
}

/** Keyboard: on a page with an error summary, focus starts on the summary; elsewhere the first
 *  Tab lands on the skip link, which is then visible, with a focus outline. */
async function keyboardProblems(page, spec) {
  if (spec.errorSummary) {
    const onSummary = await page.evaluate(() => !!document.activeElement?.classList.contains('error-summary'));
    return onSummary ? [] : ['focus does not start on the error summary'];
  }
  await page.keyboard.press('Tab');
  const f = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return {
      skip: el.classList.contains('skip-link'),
      visible: r.width > 1 && r.height > 1 && r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight,
      outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
    };
  });
  const problems = [];
  if (!f || !f.skip) problems.push('the first Tab does not reach the skip link');
  else {
    if (!f.visible) problems.push('the focused skip link is not visible');
    if (!f.outline) problems.push('the focused skip link has no visible focus outline');
  }
  return problems;
}

/** Structure checks that need no JavaScript in the page (run with JavaScript disabled). */
async function structureProblems(page, spec, lang) {
  const problems = [];
  const htmlLang = await page.getAttribute('html', 'lang');
  if (htmlLang !== lang) problems.push(`<html lang="${htmlLang}"> instead of "${lang}"`);
  if ((await page.locator('main').count()) !== 1) problems.push('no single <main> landmark');
  const h1 = page.locator('h1');
  const h1Count = await h1.count();
  if (h1Count !== 1) problems.push(`${h1Count} <h1> headings instead of one`);
  else if (!(await h1.innerText()).trim()) problems.push('the <h1> is empty');
  if ((await page.locator('a.skip-link[href="#main"]').count()) !== 1) problems.push('no skip link to #main');
  for (const sel of spec.forms || []) {
    const form = page.locator(sel);
    if ((await form.count()) < 1) {
      problems.push(`no form ${sel}`);
      continue;
    }
    const submit = form.first().locator('button[type="submit"], input[type="submit"], button:not([type])');
    if ((await submit.count()) < 1) problems.push(`form ${sel} has no submit button`);
  }
  if (spec.errorSummary && (await page.locator('.error-summary').count()) !== 1) {
    problems.push('no error summary');
  }
  return problems;
}

/** Loads the page, and for a `submit` spec fills and submits its form there (as a person
 *  would, so it works the same without JavaScript); returns the HTTP status of the result. */
async function load(page, demo, spec) {
  const resp = await page.goto(demo.base + spec.path);
  if (!spec.submit) return resp ? resp.status() : 0;
  if (!resp || resp.status() !== 200 || (await page.locator(spec.submit.form).count()) === 0) {
    // The page or its form is not there (yet): report what there is.
    return resp ? resp.status() : 0;
  }
  for (const [sel, value] of Object.entries(spec.submit.fill(demo))) await page.fill(sel, value);
  const [nav] = await Promise.all([
    page.waitForNavigation(),
    page.click(`${spec.submit.form} button[type="submit"]`),
  ]);
  return nav ? nav.status() : 0;
}

const statusOk = (spec, status) => (Array.isArray(spec.status) ? spec.status.includes(status) : status === spec.status);

async function signIn(page, base, admin) {
  await page.goto(base + '/login');
  await page.fill('#field-username', admin.username);
  await page.fill('#field-password', admin.password);
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.click('form[action="/login"] button[type="submit"]'),
  ]);
  const status = resp ? resp.status() : 0;
  if (status >= 400 || new URL(page.url()).pathname === '/login') {
    throw new Error(`signing in as ${admin.username} failed (status ${status}, now at ${page.url()})`);
  }
}

async function main() {
  const results = { passed: 0, failed: 0 };
  const notes = [];
  const demo = await startDemo();
  log(`# stadtkern demo at ${demo.base}; axe-core ${JSON.parse(fs.readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version}, tags ${AXE_TAGS.join(', ')}`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'stadtkern-a11y-chromium-'));
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Playwright itself gives each launch a fresh, temporary --user-data-dir.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--disk-cache-dir=${profile}`,
      ],
    });
    const version = browser.version();
    log(`# browser: Chromium ${version}`);

    const check = async (ctxs, spec, langCode) => {
      const label = `${langCode} ${spec.name} ${spec.submit ? `POST ${spec.submit.form.match(/action="([^"]+)"/)[1]}` : spec.path}`;
      const failures = [];
      let status = 0;
      let violations = [];
      try {
        const page = await ctxs.js.newPage();
        status = await load(page, demo, spec);
        violations = await axeViolations(page);
        if (BEST_PRACTICE) {
          for (const v of await axeViolations(page, ['best-practice'])) {
            notes.push(`${label}: best practice ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target).slice(0, 3).join(', ')}`);
          }
        }
        failures.push(...(await keyboardProblems(page, spec)).map((p) => `keyboard: ${p}`));
        await page.close();
        const nojs = await ctxs.nojs.newPage();
        const status2 = await load(nojs, demo, spec);
        if (status2 !== status) failures.push(`status ${status2} without JavaScript but ${status} with it`);
        failures.push(...(await structureProblems(nojs, spec, langCode)).map((p) => `without JavaScript: ${p}`));
        await nojs.close();
      } catch (e) {
        failures.push(`error: ${e.message.split('\n')[0]}`);
      }
      if (!statusOk(spec, status)) failures.push(`status ${status}, expected ${[spec.status].flat().join(' or ')}`);
      for (const v of violations) {
        failures.push(`axe ${v.id} (${v.impact}): ${v.help}`);
        for (const n of v.nodes.slice(0, 5)) failures.push(`    at ${n.target}`);
        if (v.nodes.length > 5) failures.push(`    ... and ${v.nodes.length - 5} more`);
      }
      if (failures.length === 0) {
        results.passed++;
        log(`ok    ${label} (${status}): 0 axe violations, keyboard ok, works without JavaScript`);
      } else {
        results.failed++;
        log(`FAIL  ${label} (${status}): ${violations.length} axe violation(s)`);
        for (const f of failures) log(`        ${f}`);
      }
    };

    for (const lang of LANGS) {
      const opts = {
        locale: lang.locale,
        extraHTTPHeaders: { 'Accept-Language': lang.accept },
        // Our CSP (rightly) forbids inline scripts; axe is injected by the test, not the page.
        bypassCSP: true,
      };
      const anon = {
        js: await browser.newContext(opts),
        nojs: await browser.newContext({ ...opts, javaScriptEnabled: false }),
      };
      for (const spec of PUBLIC_PAGES) await check(anon, spec, lang.code);
      await anon.js.close();
      await anon.nojs.close();

      // Sign in through the form, in both contexts (the no-JavaScript one proves the login form
      // works without scripts).
      const user = {
        js: await browser.newContext(opts),
        nojs: await browser.newContext({ ...opts, javaScriptEnabled: false }),
      };
      let signedIn = true;
      for (const c of [user.js, user.nojs]) {
        const p = await c.newPage();
        try {
          await signIn(p, demo.base, demo.admin);
        } catch (e) {
          signedIn = false;
          results.failed++;
          log(`FAIL  ${lang.code} sign in as ${demo.admin.username}: ${e.message}`);
        }
        await p.close();
      }
      if (signedIn) {
        const pages = [...SIGNED_IN_PAGES];
        // Sub-pages of /admin, found by following its /admin/... links two levels deep; one page
        // per route shape (/admin/users/3 and /admin/users/4 are the same template).
        const p = await user.js.newPage();
        const shapes = new Set(['/admin']);
        let frontier = ['/admin'];
        for (let depth = 0; depth < 2 && frontier.length; depth++) {
          const next = [];
          for (const from of frontier) {
            const r = await p.goto(demo.base + from);
            if (!r || r.status() !== 200) continue;
            const hrefs = await p.$$eval('a[href^="/admin"]', (as) => as.map((a) => a.getAttribute('href')));
            for (const h of hrefs) {
              const u = new URL(h, demo.base);
              const shape = u.pathname.replace(/\/\d+(?=\/|$)/g, '/{id}') + (u.search ? '?' : '');
              if (shapes.has(shape) || shapes.size > MAX_ADMIN_SUBPAGES) continue;
              shapes.add(shape);
              const target = u.pathname + u.search;
              pages.push({ name: 'admin sub-page', path: target, status: 200 });
              next.push(target);
            }
          }
          frontier = next;
        }
        await p.close();
        for (const spec of pages) await check(user, spec, lang.code);
      }
      await user.js.close();
      await user.nojs.close();
    }
  } finally {
    if (browser) await browser.close();
    await demo.stop();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  for (const n of notes) log(`note: ${n}`);
  if (results.failed > 0 || VERBOSE) {
    const tail = demo.serverLog().split('\n').slice(-40).join('\n');
    if (tail.trim()) log(`# last lines of the server log:\n${tail}`);
  }
  fs.rmSync(demo.dataDir, { recursive: true, force: true });
  log(`${results.passed} passed, ${results.failed} failed`);
  return results.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`a11y test could not run: ${e.stack || e}`);
    log('0 passed, 1 failed');
    process.exit(1);
  },
);
