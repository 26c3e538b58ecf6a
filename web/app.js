/*
 * app.js - the admin dashboard: sign in with an admin key, then one panel per
 * view of the reports (/v1/reports/*), each drawn with Chart.js.
 *
 * The key is kept in sessionStorage only (it goes when the tab closes) and is
 * sent as the bearer token of every API call.  A report that fails shows its
 * problem in its own panel; nothing is written to the console.  The page runs
 * under a Content-Security-Policy without 'unsafe-inline': no inline script,
 * no style attributes (styles are set through the CSSOM or classes).
 */
'use strict';

const KEY_STORE = 'loyalty.adminKey';

const SEGMENT_NAMES = {
  'important-value': 'Important value',
  'important-develop': 'Important develop',
  'important-keep': 'Important keep',
  'important-retain': 'Important retain',
  'general-value': 'General value',
  'general-develop': 'General develop',
  'general-keep': 'General keep',
  'general-retain': 'General retain',
  none: 'No purchase in period',
};

const STAGE_NAMES = {
  active: 'Active',
  silent: 'Silent',
  forgetting: 'Forgetting',
  lost: 'Lost',
  none: 'Never purchased',
};

const COLORS = {
  blue: '#2f6fde',
  green: '#2e9e5b',
  orange: '#e8842c',
  red: '#d2463c',
  grey: '#8a94a6',
};

/* An API answer other than 2xx, with the problem's own words when it has them. */
class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, {
      headers: {
        Authorization: `Bearer ${sessionStorage.getItem(KEY_STORE) || ''}`,
        Accept: 'application/json',
      },
    });
  } catch (err) {
    throw new ApiError(0, { detail: 'the server could not be reached' });
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null; /* not JSON: the status says enough */
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/* ------------------------------------------------------------ formatting -- */

const integer = new Intl.NumberFormat('en');

function percent(fraction, digits = 1) {
  return `${(fraction * 100).toFixed(digits)}%`;
}

/* Minor units in the program's currency, when the rule set names it. */
function money(minor, currency) {
  if (!currency) return `${integer.format(minor)} (minor units)`;
  const fmt = new Intl.NumberFormat('en', { style: 'currency', currency });
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format(minor / 10 ** digits);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/* A row of figures: [[label, value, extra class or undefined], ...]. */
function tiles(panel, rows) {
  const box = panel.querySelector('.summary');
  box.replaceChildren();
  for (const [label, value, cls] of rows) {
    const tile = el('div', 'tile');
    tile.append(el('span', 'label', label), el('span', `value ${cls || ''}`.trim(), value));
    box.append(tile);
  }
}

/* --------------------------------------------------------------- charts -- */

function draw(panel, config) {
  const canvas = panel.querySelector('canvas');
  const old = Chart.getChart(canvas);
  if (old) old.destroy();
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false }, config.options);
  return new Chart(canvas, config);
}

function barChart(panel, labels, label, data, options) {
  return draw(panel, {
    type: 'bar',
    data: { labels, datasets: [{ label, data, backgroundColor: COLORS.blue }] },
    options: Object.assign({ plugins: { legend: { display: false } } }, options),
  });
}

/* ------------------------------------------------------------ the panels -- */

function drawTiers(panel, segments, ctx) {
  const names = ctx.tierNames;
  tiles(panel, [['Members', integer.format(segments.total_members)]]);
  barChart(
    panel,
    segments.by_tier.map((t) => names[t.tier] || t.tier),
    'Members',
    segments.by_tier.map((t) => t.members),
  );
}

function drawSegments(panel, segments) {
  tiles(panel, [
    ['Snapshot', segments.snapshot_date || 'none yet'],
    ['Members', integer.format(segments.total_members)],
  ]);
  barChart(
    panel,
    segments.items.map((s) => SEGMENT_NAMES[s.segment] || s.segment),
    'Members',
    segments.items.map((s) => s.members),
    {
      indexAxis: 'y',
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            footer: (items) => {
              const s = segments.items[items[0].dataIndex];
              return `${percent(s.share)} of members, ${percent(s.spend_share)} of spend`;
            },
          },
        },
      },
    },
  );
}

function drawLifecycle(panel, lifecycle) {
  tiles(panel, [
    ['Snapshot', lifecycle.snapshot_date || 'none yet'],
    ['Members', integer.format(lifecycle.total_members)],
  ]);
  barChart(
    panel,
    lifecycle.items.map((s) => STAGE_NAMES[s.stage] || s.stage),
    'Members',
    lifecycle.items.map((s) => s.members),
    { indexAxis: 'y' },
  );
}

function drawKpis(panel, kpis, ctx) {
  const rp = kpis.repeat_purchase;
  const sat = kpis.satisfaction;
  const nps = kpis.nps;
  const ref = kpis.referrals;
  tiles(panel, [
    ['Repeat purchase', `${percent(rp.rate)} (${rp.band})`, `band band-${rp.band}`],
    ['Satisfaction', sat.responses ? `${sat.mean.toFixed(2)} / 5` : 'no answers'],
    ['NPS', nps.responses ? String(nps.score) : 'no answers'],
    ['Referrals', `${ref.converted} of ${ref.referred} (${percent(ref.conversion_rate)})`],
    ['Points liability', money(kpis.points.liability, ctx.currency)],
  ]);
  const scores = ['1', '2', '3', '4', '5'];
  barChart(
    panel,
    scores.map((s) => `${s}★`),
    'Answers',
    scores.map((s) => sat.distribution[s]),
    { plugins: { legend: { display: false }, title: { display: true, text: 'Satisfaction answers' } } },
  );
}

function drawPoints(panel, kpis) {
  const p = kpis.points;
  tiles(panel, [
    ['Issued', integer.format(p.issued)],
    ['Redeemed', integer.format(p.redeemed)],
    ['Expired', integer.format(p.expired)],
    ['Outstanding', integer.format(p.outstanding)],
  ]);
  const series = (key, label, color) => ({
    label,
    data: kpis.items.map((m) => m[key]),
    borderColor: color,
    backgroundColor: color,
  });
  draw(panel, {
    type: 'line',
    data: {
      labels: kpis.items.map((m) => m.month),
      datasets: [
        series('issued', 'Issued', COLORS.blue),
        series('redeemed', 'Redeemed', COLORS.green),
        series('expired', 'Expired', COLORS.red),
      ],
    },
  });
}

function drawConcentration(panel, conc) {
  const top2 = conc.items.find((d) => d.decile === 2);
  const marginTop2 = conc.items
    .filter((d) => d.decile <= 2)
    .reduce((sum, d) => sum + d.margin_share, 0);
  tiles(panel, [
    ['Members', integer.format(conc.total_members)],
    ['Top 20% of spend', top2 ? percent(top2.cumulative_spend_share) : '-'],
    ['Top 20% of margin', percent(marginTop2)],
  ]);
  draw(panel, {
    type: 'line',
    data: {
      labels: conc.items.map((d) => `Top ${d.decile * 10}%`),
      datasets: [
        {
          label: 'Share of spend',
          data: conc.items.map((d) => d.cumulative_spend_share * 100),
          borderColor: COLORS.blue,
          backgroundColor: COLORS.blue,
        },
        {
          label: 'Even spread',
          data: conc.items.map((d) => d.decile * 10),
          borderColor: COLORS.grey,
          backgroundColor: COLORS.grey,
          borderDash: [4, 4],
          pointRadius: 0,
        },
      ],
    },
    options: { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } } },
  });
}

function drawComplaints(panel, c) {
  tiles(panel, [
    ['Open', integer.format(c.open), c.open > 0 ? 'attention' : ''],
    ['Resolved', integer.format(c.resolved)],
    ['Median resolution', c.median_resolution_hours === null ? '-' : `${c.median_resolution_hours} h`],
    ['Compensation', `${integer.format(c.compensation_points)} points`],
  ]);
  draw(panel, {
    type: 'bar',
    data: {
      labels: c.items.map((i) => i.category),
      datasets: [
        { label: 'Open', data: c.items.map((i) => i.open), backgroundColor: COLORS.orange },
        { label: 'Resolved', data: c.items.map((i) => i.resolved), backgroundColor: COLORS.green },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true } } },
  });
}

/* Panel id -> the report it shows and how. */
const PANELS = [
  ['tiers', 'segments', drawTiers],
  ['segments', 'segments', drawSegments],
  ['lifecycle', 'lifecycle', drawLifecycle],
  ['kpis', 'kpis', drawKpis],
  ['points', 'kpis', drawPoints],
  ['concentration', 'concentration', drawConcentration],
  ['complaints', 'complaints', drawComplaints],
];

function showError(panel, report, err) {
  const p = panel.querySelector('.error');
  p.textContent = `Could not load the ${report} report: ${err.message}${
    err.status ? ` (HTTP ${err.status})` : ''
  }.`;
  p.hidden = false;
  panel.querySelector('.chart').hidden = true;
  panel.dataset.state = 'error';
}

/* Names and currency from the active rule set, for labels; optional. */
async function context() {
  try {
    const rules = (await api('/v1/rules')).rules;
    const tierNames = {};
    for (const t of rules.tiers || []) tierNames[t.code] = t.name || t.code;
    return { currency: rules.currency, tierNames };
  } catch (err) {
    return { currency: null, tierNames: {} };
  }
}

async function loadPanels() {
  const ctx = await context();
  const reports = {};
  for (const [, report] of PANELS) {
    if (!reports[report]) reports[report] = api(`/v1/reports/${report}`);
  }
  await Promise.all(
    PANELS.map(async ([id, report, drawPanel]) => {
      const panel = document.getElementById(`panel-${id}`);
      panel.dataset.state = 'loading';
      panel.querySelector('.error').hidden = true;
      panel.querySelector('.chart').hidden = false;
      try {
        const data = await reports[report];
        drawPanel(panel, data, ctx);
        panel.dataset.state = 'ready';
        if (data.filters) $('#period').textContent = `${data.filters.from} to ${data.filters.to}`;
      } catch (err) {
        showError(panel, report, err);
      }
    }),
  );
  document.getElementById('panels').dataset.state = 'loaded';
}

/* ---------------------------------------------------------------- sign in -- */

function $(selector) {
  return document.querySelector(selector);
}

function showSignIn(message) {
  $('#panels').hidden = true;
  $('#sign-out').hidden = true;
  $('#period').textContent = '';
  $('#sign-in').hidden = false;
  const error = $('#sign-in-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('#key').focus();
}

/* Checks the stored key on an admin-only endpoint, then shows the panels. */
async function enter() {
  try {
    await api('/v1/keys?limit=1');
  } catch (err) {
    sessionStorage.removeItem(KEY_STORE);
    if (err.status === 401) return showSignIn('This key was not accepted.');
    if (err.status === 403) return showSignIn('This key is not an admin key.');
    return showSignIn(`Could not sign in: ${err.message}.`);
  }
  $('#sign-in').hidden = true;
  $('#sign-out').hidden = false;
  $('#panels').hidden = false;
  return loadPanels();
}

function start() {
  $('#sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('#key').value.trim();
    $('#key').value = '';
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    enter();
  });
  $('#sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    showSignIn();
  });
  if (typeof Chart === 'undefined') {
    showSignIn('The chart library did not load (chart.umd.min.js).');
    return;
  }
  /* A dashboard is read, not watched: no animation, and the pictures are
   * complete as soon as they are drawn. */
  Chart.defaults.animation = false;
  if (sessionStorage.getItem(KEY_STORE)) enter();
  else showSignIn();
}

start();
