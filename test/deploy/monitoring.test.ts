// deploy/monitoring: the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`), the
// example Prometheus config passes `promtool check config`, every query of the Grafana dashboard parses (checked by
// promtool as recording rules), and every halo_* series they name is one the services declare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';

const dir = join(projectRoot(), 'deploy', 'monitoring');
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'promtool' : null;
const skip = promtool ? false : 'promtool is not installed (Debian package `prometheus`; .ci/run installs it with deploy/install/apt-tools.sh)';
const run = (args: string[], cwd = dir) => execFileSync(promtool!, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface Dashboard { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }
const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as Dashboard;

test('promtool check rules: the alert rules are valid', { skip }, () => {
  assert.match(run(['check', 'rules', 'alerts.yml']), /SUCCESS: 8 rules found/);
});

test('promtool test rules: each alert fires on the series that mean it, and only then', { skip }, () => {
  assert.match(run(['test', 'rules', 'alerts.test.yml']), /SUCCESS/);
});

test('promtool check config: the example scrape config and its rule file', { skip }, () => {
  assert.match(run(['check', 'config', 'prometheus.yml']), /SUCCESS/);
});

test('every dashboard query parses as PromQL', { skip }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'halo-dashboard-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((target) => target.expr));
  assert.ok(exprs.length >= 10);
  // Recording rules are the one file promtool parses arbitrary expressions in; JSON is valid YAML.
  const rules = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] };
  writeFileSync(join(tmp, 'dashboard-rules.yml'), JSON.stringify(rules));
  assert.match(run(['check', 'rules', 'dashboard-rules.yml'], tmp), new RegExp(`SUCCESS: ${exprs.length} rules found`));
});

test('every halo_* series in the alerts and the dashboard is declared by a service or lib', () => {
  const declared = new Set<string>();
  const walk = (path: string): void => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (entry === 'node_modules' || entry === 'test') continue;
      if (statSync(full).isDirectory()) walk(full);
      else if (full.endsWith('.ts')) for (const m of readFileSync(full, 'utf8').matchAll(/name: '(halo_[a-z_]+)'/g)) declared.add(m[1]!);
    }
  };
  for (const root of ['libs', 'services']) walk(join(projectRoot(), root));
  assert.ok(declared.has('halo_http_requests_total'), 'the scan finds declarations');
  const used = [readFileSync(join(dir, 'alerts.yml'), 'utf8'), ...dashboard.panels.flatMap((p) => p.targets.map((target) => target.expr))]
    .flatMap((text) => [...text.matchAll(/\b(halo_[a-z_]+)/g)].map((m) => m[1]!));
  const unknown = [...new Set(used)].filter((name) => !declared.has(name) && !declared.has(name.replace(/_(bucket|count|sum)$/, '')));
  assert.deepEqual(unknown, []);
});
