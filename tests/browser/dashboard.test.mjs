// dashboard.test.mjs - the admin dashboard in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a running daemon.
//
//   node dashboard.test.mjs BASE_URL ADMIN_KEY SCREENSHOT_PATH
//
// The static files and the sign-in come from the real daemon.  The report
// calls (/v1/reports/*) go to the daemon too; only a report that answers 404
// there (not built on this branch yet) is answered from fixtures/NAME.json,
// which follow the report shapes of issue 6.  Every chart must show exactly
// what its report said, with data; no console error and no failed request
// may appear except those a step provokes on purpose (a wrong key, a report
// made to fail).  Exits 0 when every check passes, 1 otherwise, 77 when
// playwright-core or chromium is missing.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SKIP = 77;
const REPORTS = ['segments', 'lifecycle', 'kpis', 'concentration', 'complaints'];
const TIMEOUT_MS = 30000;

const [base, adminKey, screenshot] = process.argv.slice(2);
if (!base || !adminKey || !screenshot) {
  console.error('usage: node dashboard.test.mjs BASE_URL ADMIN_KEY SCREENSHOT_PATH');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.error(`SKIP: no chromium at ${chromiumPath}`);
  process.exit(SKIP);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  console.error(`SKIP: playwright-core is not installed (.ci/web.sh test): ${err.message}`);
  process.exit(SKIP);
}

const fixtures = Object.fromEntries(
  REPORTS.map((r) => [r, JSON.parse(readFileSync(join(here, 'fixtures', `${r}.json`), 'utf8'))]),
);

let failures = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${ok || detail === undefined ? '' : `: ${detail}`}`);
  if (!ok) failures++;
}
function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, what, `got ${a}, want ${e}`);
}

// What each panel's chart must show, from the report the page was given.
const EXPECTED = {
  tiers: (d) => ({ series: [d.segments.by_tier.map((t) => t.members)] }),
  segments: (d) => ({ series: [d.segments.items.map((s) => s.members)] }),
  lifecycle: (d) => ({ series: [d.lifecycle.items.map((s) => s.members)] }),
  kpis: (d) => ({ series: [['1', '2', '3', '4', '5'].map((s) => d.kpis.satisfaction.distribution[s])] }),
  points: (d) => ({
    labels: d.kpis.items.map((m) => m.month),
    series: ['issued', 'redeemed', 'expired'].map((k) => d.kpis.items.map((m) => m[k])),
  }),
  concentration: (d) => ({
    series: [d.concentration.items.map((x) => x.cumulative_spend_share * 100)],
  }),
  complaints: (d) => ({
    labels: d.complaints.items.map((c) => c.category),
    series: ['open', 'resolved'].map((k) => d.complaints.items.map((c) => c[k])),
  }),
};

const browser = await chromium.launch({ executablePath: chromiumPath });
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
context.setDefaultTimeout(TIMEOUT_MS);

// Reports the daemon does not have yet come from the fixtures; the others
// pass through.  `delivered` keeps what the page got, for the checks.
const delivered = {};
const faked = new Set();
await context.route(/\/v1\/reports\/[a-z]+(\?.*)?$/, async (route) => {
  const name = new URL(route.request().url()).pathname.split('/').pop();
  const real = await route.fetch();
  if (real.status() === 404 && fixtures[name]) {
    faked.add(name);
    delivered[name] = fixtures[name];
    await route.fulfill({
      status: 200,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify(fixtures[name]),
    });
    return;
  }
  if (real.ok()) delivered[name] = await real.json();
  await route.fulfill({ response: real });
});

// Problems, except those a step expects (a URL pattern it provokes).
const problems = [];
let expectedFailure = null;
function watch(page) {
  const allowed = (url) => expectedFailure !== null && expectedFailure.test(url);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium itself logs every 4xx/5xx fetch as "Failed to load resource".
    if (msg.text().startsWith('Failed to load resource') && allowed(msg.location().url)) return;
    problems.push(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400 && !allowed(res.url())) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
}

async function signIn(page, key) {
  await page.locator('#key').fill(key);
  await page.locator('#sign-in button[type=submit]').click();
}

async function chartState(page, id) {
  return page.evaluate((panelId) => {
    const panel = document.getElementById(`panel-${panelId}`);
    const canvas = panel.querySelector('canvas');
    const chart = canvas && window.Chart.getChart(canvas);
    return {
      state: panel.dataset.state,
      error: panel.querySelector('.error').textContent,
      chart: chart
        ? {
            type: chart.config.type,
            labels: chart.data.labels,
            series: chart.data.datasets.map((ds) => ds.data),
            drawn: canvas.width > 0 && canvas.height > 0,
          }
        : null,
    };
  }, id);
}

// One line per panel: its chart exists, is drawn, has data and shows
// exactly what its report said.
async function checkPanels(page, when) {
  await page.locator('#panels[data-state="loaded"]').waitFor({ state: 'attached' });
  for (const [id, expect] of Object.entries(EXPECTED)) {
    const s = await chartState(page, id);
    const want = expect(delivered);
    const wrong = [];
    if (s.state !== 'ready') wrong.push(`state ${s.state}: ${s.error}`);
    if (!s.chart) {
      wrong.push('no chart on the canvas');
    } else {
      const got = JSON.stringify(s.chart.series.slice(0, want.series.length));
      if (!s.chart.drawn) wrong.push('canvas not drawn');
      if (s.chart.labels.length === 0) wrong.push('no labels');
      if (!s.chart.series.some((d) => d.some((v) => v > 0))) wrong.push(`no data: ${got}`);
      if (got !== JSON.stringify(want.series)) wrong.push(`data ${got}, report ${JSON.stringify(want.series)}`);
      if (want.labels && JSON.stringify(s.chart.labels) !== JSON.stringify(want.labels))
        wrong.push(`labels ${JSON.stringify(s.chart.labels)}, report ${JSON.stringify(want.labels)}`);
      if (!s.chart.series.every((d) => d.length === s.chart.labels.length)) wrong.push('a value per label');
    }
    check(wrong.length === 0, `${when}: panel ${id} draws its report with data`, wrong.join('; '));
  }
}

try {
  const page = await context.newPage();
  watch(page);

  const doc = await page.goto(`${base}/admin/`);
  check(doc.status() === 200, 'GET /admin/ answers 200', doc.status());
  check(
    /script-src 'self'/.test(doc.headers()['content-security-policy'] || ''),
    'the page is served with a Content-Security-Policy',
  );
  await page.locator('#sign-in').waitFor();
  check(await page.locator('#panels').isHidden(), 'no panels before sign-in');

  // A wrong key: a sign-in error, no panels, nothing kept.
  expectedFailure = /\/v1\/keys\?limit=1$/;
  await signIn(page, 'lk_not_a_key_0000000000000000');
  await page.locator('#sign-in-error').waitFor();
  same(await page.locator('#sign-in-error').textContent(), 'This key was not accepted.', 'wrong key: sign-in error');
  check(await page.locator('#panels').isHidden(), 'wrong key: no panels');
  same(await page.evaluate(() => sessionStorage.length), 0, 'wrong key: nothing kept in sessionStorage');
  expectedFailure = null;

  // The right key: every panel.
  await signIn(page, adminKey);
  await checkPanels(page, 'signed in');
  check(await page.locator('#sign-in').isHidden(), 'signed in: sign-in form hidden');
  same(
    await page.evaluate(() => sessionStorage.getItem('loyalty.adminKey')),
    adminKey,
    'the key is kept in sessionStorage',
  );
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`# screenshot: ${screenshot}`);

  // A reload keeps the session (sessionStorage), with no second sign-in.
  await page.reload();
  await checkPanels(page, 'after reload');

  // Signing out forgets the key.
  await page.locator('#sign-out').click();
  await page.locator('#sign-in').waitFor();
  same(await page.evaluate(() => sessionStorage.length), 0, 'sign-out forgets the key');
  await page.close();

  // A report that fails shows its problem in its panel; the others still draw.
  const errPage = await context.newPage();
  watch(errPage);
  expectedFailure = /\/v1\/reports\/complaints(\?.*)?$/;
  await errPage.route(expectedFailure, (route) =>
    route.fulfill({
      status: 503,
      contentType: 'application/problem+json',
      body: JSON.stringify({
        type: '/problems/unavailable',
        title: 'Service unavailable',
        status: 503,
        detail: 'database unreachable',
        code: 'unavailable',
        errors: [],
      }),
    }),
  );
  await errPage.goto(`${base}/admin/`);
  await signIn(errPage, adminKey);
  await errPage.locator('#panels[data-state="loaded"]').waitFor({ state: 'attached' });
  const failed = await chartState(errPage, 'complaints');
  same(failed.state, 'error', 'failing report: its panel is in error');
  same(
    failed.error,
    'Could not load the complaints report: database unreachable (HTTP 503).',
    'failing report: the panel says why',
  );
  check(await errPage.locator('#panel-complaints .error').isVisible(), 'failing report: the error is visible');
  same((await chartState(errPage, 'lifecycle')).state, 'ready', 'failing report: other panels still draw');
  expectedFailure = null;
  await errPage.close();
} catch (err) {
  check(false, 'the run completed', err.stack || String(err));
} finally {
  await browser.close();
}

for (const p of problems) check(false, 'no console errors or failed requests', p);
check(problems.length === 0, 'no console errors or failed requests');
console.log(`# reports from fixtures (the daemon answered 404): ${[...faked].sort().join(', ') || 'none'}`);
console.log(`# ${failures === 0 ? 'all checks passed' : `${failures} checks failed`}`);
process.exit(failures === 0 ? 0 : 1);
