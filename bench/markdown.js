'use strict';
// Markdown tables of a benchmark report (bench/results/*.json), for docs/performance.md and notes.
//
//   node bench/markdown.js REPORT.json               one table: medians and ratios per scenario
//   node bench/markdown.js BEFORE.json AFTER.json    the two runs side by side
//
// bench/run.js also writes OUT/latest.md with the first form.

const fs = require('node:fs');

const ORDER = ['node-net', 'resp-js', 'v8-wasm', 'bridge-inline', 'bridge-threads', 'rust-echo', 'bridge-inline-fuel', 'redis'];

const num = (n) => (n === null || n === undefined ? '-' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const ratio = (r) => (r === null || r === undefined ? '-' : r.toFixed(2));

function kindsOf(scenarios) {
  const seen = new Set();
  for (const t of Object.values(scenarios)) for (const k of Object.keys(t.rows)) seen.add(k);
  return ORDER.filter((k) => seen.has(k)).concat([...seen].filter((k) => !ORDER.includes(k)));
}

function describe(machine, scenarios = {}) {
  // Timed scenarios run `seconds`; kv runs a count of requests (redis-benchmark -n).
  const ids = Object.keys(scenarios);
  const timed = ids.length === 0 || ids.some((id) => scenarios[id].seconds !== null);
  const counted = Object.values(scenarios).find((t) => t.params && t.params.requests);
  const idle = scenarios.idle && scenarios.idle.params;
  const length = [
    timed ? `${machine.seconds} s` : null,
    counted ? `${counted.params.requests} requests per test` : null,
    idle ? `${idle.connections} idle connections${idle.settleSeconds ? ` (RSS read after ${idle.settleSeconds} s)` : ''}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  return `${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}, ${machine.rustc}; ${machine.rounds} rounds${length ? ` of ${length}` : ''}, ${machine.date.slice(0, 10)}`;
}

/** One row per scenario: the median of each server, with its ratio to the baseline in brackets. */
function renderMarkdown(report) {
  const kinds = kindsOf(report.scenarios);
  const lines = [
    `Machine: ${describe(report.machine, report.scenarios)}.`,
    '',
    `| scenario | unit | ${kinds.join(' | ')} |`,
    `| --- | --- | ${kinds.map(() => '---:').join(' | ')} |`,
  ];
  for (const [id, t] of Object.entries(report.scenarios)) {
    const cells = kinds.map((k) => (t.rows[k] ? `${num(t.rows[k].median)} (${ratio(t.rows[k].ratio)})` : ''));
    lines.push(`| ${id} | ${t.unit} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'Medians; in brackets the ratio to the baseline (node-net; v8-wasm for hash; bridge-inline for fuel; resp-js for kv; for hostcall the same mode answering directly; for idle, node-net\'s bytes per connection over the server\'s): higher is better.');
  if (report.load) {
    lines.push('', '| guest | wasm bytes | compile (no cache) ms | cold cacheDir ms | cache hit ms |', '| --- | ---: | ---: | ---: | ---: |');
    for (const [g, l] of Object.entries(report.load)) {
      lines.push(`| ${g} | ${l.bytes} | ${num(l['no cache'])} | ${num(l['cold cache'])} | ${num(l['cache hit'])} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Each scenario and server: median and ratio before, median and ratio after. */
function renderComparison(before, after) {
  const lines = [
    `Before: ${describe(before.machine)}.`,
    `After: ${describe(after.machine)}.`,
    '',
    '| scenario | server | before | ratio | after | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [id, t] of Object.entries(after.scenarios)) {
    const b = before.scenarios[id];
    for (const k of kindsOf({ [id]: t })) {
      const br = b && b.rows[k];
      const ar = t.rows[k];
      lines.push(`| ${id} (${t.unit}) | ${k} | ${br ? num(br.median) : '-'} | ${br ? ratio(br.ratio) : '-'} | ${num(ar.median)} | ${ratio(ar.ratio)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  const [a, b] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  if (!a) {
    console.error('usage: node bench/markdown.js REPORT.json [AFTER.json]');
    process.exit(2);
  }
  process.stdout.write(b ? renderComparison(a, b) : renderMarkdown(a));
}

module.exports = { renderMarkdown, renderComparison };
