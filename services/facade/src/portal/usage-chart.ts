import { html, type Html } from '../console/web.ts';
import type { UsageDay } from '../usage/usage-summary.ts';

const WIDTH = 640;
const HEIGHT = 180;
const PAD = 28;

/**
 * Requests per day as an inline SVG bar chart rendered here (no script, no library): successful (2xx) answers
 * stacked under refused or failed ones, with a text alternative for screen readers.
 */
export function usageChart(days: readonly UsageDay[]): Html {
  const max = Math.max(1, ...days.map((d) => d.total));
  const slot = (WIDTH - PAD) / Math.max(1, days.length);
  const bar = Math.max(2, slot * 0.7);
  const scale = (n: number) => (n / max) * (HEIGHT - PAD);
  const ok = (d: UsageDay) => Object.entries(d.byStatus).filter(([s]) => s.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const summary = days.filter((d) => d.total > 0).map((d) => `${d.day}: ${d.total} (${ok(d)} successful)`).join('; ') || 'no requests';
  return html`<figure class="chart"><svg role="img" aria-labelledby="chart-desc" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">
<desc id="chart-desc">Requests per day: ${summary}</desc>
<line x1="${PAD}" y1="${HEIGHT - PAD}" x2="${WIDTH}" y2="${HEIGHT - PAD}" class="axis"/>
<text x="2" y="12" class="label">${max}</text><text x="2" y="${HEIGHT - PAD}" class="label">0</text>
${days.map((d, i) => {
    const x = PAD + i * slot + (slot - bar) / 2;
    const good = scale(ok(d));
    const bad = scale(d.total - ok(d));
    return html`<g><title>${d.day}: ${d.total} requests, ${ok(d)} successful</title>
<rect x="${x.toFixed(1)}" y="${(HEIGHT - PAD - good).toFixed(1)}" width="${bar.toFixed(1)}" height="${good.toFixed(1)}" class="ok"/>
<rect x="${x.toFixed(1)}" y="${(HEIGHT - PAD - good - bad).toFixed(1)}" width="${bar.toFixed(1)}" height="${bad.toFixed(1)}" class="bad"/>
${i % 2 === 0 ? html`<text x="${x.toFixed(1)}" y="${HEIGHT - 8}" class="label">${d.day.slice(5)}</text>` : ''}</g>`;
  })}
</svg><figcaption><span class="key ok"></span> successful (2xx) <span class="key bad"></span> refused or failed</figcaption></figure>`;
}
