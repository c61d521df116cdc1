/** A small SVG line chart: NDCG@k per week, one line per method. No dependencies. */

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `series`: per method, [label (week start), value] points in order. */
export function lineChartSvg(title: string, yLabel: string, series: { name: string; points: [string, number][] }[]): string {
  const W = 760;
  const H = 420;
  const left = 60;
  const right = 200;
  const top = 40;
  const bottom = 60;
  const labels = series[0]?.points.map((p) => p[0]) ?? [];
  const n = Math.max(1, labels.length - 1);
  const maxY = Math.max(1e-6, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const niceMax = Math.ceil((maxY * 1.1) / 0.01) * 0.01;
  const x = (i: number): number => left + ((W - left - right) * i) / n;
  const y = (v: number): number => top + (H - top - bottom) * (1 - v / niceMax);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text transform="translate(16 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (let t = 0; t <= 5; t++) {
    const v = (niceMax * t) / 5;
    parts.push(
      `<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(3)}</text>`,
    );
  }
  labels.forEach((l, i) => {
    if (labels.length > 12 && i % 2 === 1) return;
    parts.push(`<text transform="translate(${x(i)} ${H - bottom + 14}) rotate(40)" font-size="10">${esc(l)}</text>`);
  });
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 8}" text-anchor="middle">week starting</text>`);
  series.forEach((s, k) => {
    const c = COLOURS[k % COLOURS.length]!;
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    parts.push(
      `<line x1="${W - right + 12}" x2="${W - right + 36}" y1="${top + 18 * k}" y2="${top + 18 * k}" stroke="${c}" stroke-width="3"/>`,
      `<text x="${W - right + 42}" y="${top + 18 * k + 4}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
