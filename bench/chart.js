'use strict';
// A hand-written SVG bar chart of a bench/run.js report: per scenario, one bar per server, its
// ratio to the scenario's baseline (node-net unless the group says otherwise), a line at 1.0.
// No dependencies. Every ratio is "higher is better" (idle memory is baseline / server).

const COLORS = {
  'node-net': '#8c8c8c',
  'v8-wasm': '#e8a33d',
  'bridge-inline': '#3572b0',
  'bridge-threads': '#54a24b',
  'bridge-inline-fuel': '#9ecae9',
  'bridge-native-1': '#f08080',
  'bridge-native': '#c0392b',
  'bridge-inline-host': '#9ecae9',
  'bridge-threads-host': '#a1d99b',
  'rust-echo': '#c9a6d9',
  'resp-js': '#8c8c8c',
  redis: '#d62728',
};
const NAMES = {
  echo: 'echo (pingpong)',
  'stream-1': 'stream, 1 conn',
  'stream-8': 'stream, 8 conns',
  churn: 'churn',
  idle: 'idle memory',
  hash: 'hash (CPU-heavy)',
  fuel: 'hash, fuel',
  'kv-set': 'kv SET',
  'kv-get': 'kv GET',
};

const esc = (s) => String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]);
const num = (n) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

function renderChart(report) {
  const groups = Object.entries(report.scenarios).filter(([, t]) => Object.values(t.rows).some((r) => r.ratio !== null));
  const m = report.machine;
  const barW = 26;
  const barGap = 6;
  const groupGap = 44;
  const left = 56;
  const top = 96;
  const plotH = 300;
  const bottom = 64;
  const groupW = (t) => Object.keys(t.rows).length * (barW + barGap) - barGap;
  const plotW = groups.reduce((w, [, t]) => w + groupW(t) + groupGap, groupGap);
  const width = Math.max(left + plotW + 80, 760);
  const height = top + plotH + bottom;

  const ratios = groups.flatMap(([, t]) => Object.values(t.rows).map((r) => r.ratio)).filter((r) => r !== null);
  const cap = 2.5; // taller bars are clipped, marked ^ and labelled with their value
  const step = 0.25;
  const yMax = Math.ceil(Math.min(cap, Math.max(1.25, ...ratios.map((r) => r * 1.12))) / step) * step;
  const y = (v) => top + plotH - (Math.min(v, yMax) / yMax) * plotH;

  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="22" font-size="16" font-weight="bold">wasm-socket-bridge: throughput and memory as a ratio to node-net (higher is better)</text>`);
  const when = `${m.rounds} round${m.rounds === 1 ? '' : 's'} x ${m.seconds} s, medians`;
  out.push(
    `<text x="${left}" y="40" fill="#444">${esc(`${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.rustc}, ${m.os}; ${m.date.slice(0, 10)}; ${when}`)}</text>`,
  );
  out.push(
    `<text x="${left}" y="56" fill="#444">${esc('msg/s (echo, hash), MiB/s of verified echo (stream), connections/s (churn); idle memory: node-net bytes per connection / the server\'s')}</text>`,
  );

  // Legend: every server that appears.
  const kinds = [...new Set(groups.flatMap(([, t]) => Object.keys(t.rows)))];
  let lx = left;
  for (const k of kinds) {
    const name = k === 'rust-echo' ? 'rust-echo (load generator ceiling)' : k;
    out.push(`<rect x="${lx}" y="68" width="12" height="12" fill="${COLORS[k] || '#bbbbbb'}"/>`);
    out.push(`<text x="${lx + 16}" y="78">${esc(name)}</text>`);
    lx += 30 + name.length * 6.6;
  }

  // Axis, grid, the 1.0 line.
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const yy = y(v).toFixed(1);
    const major = Math.abs(v * 2 - Math.round(v * 2)) < 1e-9;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="${major ? '#e0e0e0' : '#f2f2f2'}"/>`);
    if (major) out.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#666">${v.toFixed(1)}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#999"/>`);
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 3"/>`);
  out.push(`<text x="${left + plotW + 4}" y="${(y(1) + 4).toFixed(1)}" fill="#d62728" font-size="11">baseline</text>`);

  let x = left + groupGap;
  for (const [id, t] of groups) {
    const gw = groupW(t);
    for (const [k, r] of Object.entries(t.rows)) {
      const tip = `${r.label}: ${num(r.median)} ${t.unit} (${num(r.min)}..${num(r.max)}), ratio ${r.ratio === null ? 'n/a' : r.ratio.toFixed(3)}`;
      if (r.ratio === null) {
        out.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" font-size="10" fill="#666">n/a<title>${esc(tip)}</title></text>`);
      } else {
        const yy = y(r.ratio);
        out.push(
          `<rect x="${x}" y="${yy.toFixed(1)}" width="${barW}" height="${(top + plotH - yy).toFixed(1)}" fill="${COLORS[k] || '#bbbbbb'}"><title>${esc(tip)}</title></rect>`,
        );
        const clipped = r.ratio > yMax ? '^' : '';
        out.push(`<text x="${x + barW / 2}" y="${(yy - 4).toFixed(1)}" text-anchor="middle" font-size="10">${clipped}${r.ratio.toFixed(2)}</text>`);
      }
      x += barW + barGap;
    }
    const cx = x - barGap - gw / 2;
    const sub = t.metric === 'bytesPerConn' ? `${t.baseline} B/conn / server's` : t.baseline === 'node-net' ? t.unit : `${t.unit}, ratio to ${t.baseline}`;
    out.push(`<text x="${cx}" y="${top + plotH + 18}" text-anchor="middle" font-weight="bold">${esc(NAMES[id] || id)}</text>`);
    out.push(`<text x="${cx}" y="${top + plotH + 34}" text-anchor="middle" fill="#555" font-size="11">${esc(sub)}</text>`);
    x += groupGap - barGap;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

module.exports = { renderChart };
