import { readFileSync } from 'node:fs';
import { getAsset, isSea } from 'node:sea';

/** The config templates this package ships (templates/ beside src/): no checkout is needed at run time. */
export type NatsConfigTemplate =
  | 'hub.conf.tmpl' | 'leaf.conf.tmpl' | 'cluster.conf.tmpl' | 'hub-secure.conf.tmpl' | 'hub-cluster.conf.tmpl' | 'leaf-secure.conf.tmpl';

/** Fills `{{name}}` placeholders of a config template of this package; unknown placeholders are an error. */
export function renderNatsConfig(template: NatsConfigTemplate, vars: Record<string, string | number>): string {
  // A shipped agent (a single executable application) carries the templates as assets of the same names.
  const text = isSea() ? getAsset(`nats-templates/${template}`, 'utf8') : readFileSync(new URL(`../templates/${template}`, import.meta.url), 'utf8');
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`nats config template ${template} needs "${name}"`);
    return String(value);
  });
}
