import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';
import { AGENT_FLAGS, type FlagSpec } from '../../src/config/index.js';
import { CHART } from '../helpers/helm.js';

/** Flags the DaemonSet fills from the downward API rather than from values (host-ipv6: status.hostIPs, see ipv6.fromHostIPs). */
const FROM_DOWNWARD_API = new Set(['node-name', 'host-ip', 'host-ipv6']);
/** Values whose content is a Kubernetes object (documented upstream), not the chart's own keys. */
const KUBERNETES_TYPED = new Set(['resources', 'iptables.resources', 'tokenKeys.resources', 'startupProbe', 'livenessProbe', 'readinessProbe']);

interface SchemaNode {
  $ref?: string;
  allOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
}

const camel = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const valuesText = readFileSync(join(CHART, 'values.yaml'), 'utf8');
const values = parseDocument(valuesText).toJS() as { agent: Record<string, unknown> };
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as SchemaNode & { definitions: Record<string, SchemaNode> };

/** The properties a schema node declares, through $ref and allOf. */
function propertiesOf(node: SchemaNode | undefined): Record<string, SchemaNode> {
  if (node === undefined) return {};
  const referenced = node.$ref ? propertiesOf(schema.definitions[node.$ref.replace('#/definitions/', '')]) : {};
  const combined = (node.allOf ?? []).reduce<Record<string, SchemaNode>>((all, part) => ({ ...all, ...propertiesOf(part) }), {});
  return { ...referenced, ...combined, ...(node.properties ?? {}) };
}

t.test('every agent flag has a value agent.<camelCase>, typed in the schema; node-name and host-ip come from the downward API', async (t) => {
  const fromValues = AGENT_FLAGS.filter((f) => !FROM_DOWNWARD_API.has(f.name)).map((f) => camel(f.name)).sort();
  t.same(Object.keys(values.agent).sort(), fromValues, 'values.yaml agent: has exactly one key per flag');
  t.same(Object.keys(propertiesOf(schema.properties?.agent)).sort(), fromValues, 'values.schema.json types exactly those keys');
});

t.test('values.yaml defaults are the agent\'s defaults (sts-region is left to AWS_REGION, then us-east-1; the chart turns the start-up taint on)', async (t) => {
  const flags: readonly FlagSpec[] = AGENT_FLAGS;
  // The agent removes no taint unless told; the chart names one, because it also ships the RBAC and the policy that confine the node patch.
  t.equal(values.agent.startupTaint, 'corridor.io/agent-not-ready', 'agent.startupTaint = corridor.io/agent-not-ready (the agent: none)');
  for (const flag of flags) {
    if (FROM_DOWNWARD_API.has(flag.name) || flag.name === 'startup-taint') continue;
    const value = values.agent[camel(flag.name)];
    const text = Array.isArray(value) ? value.join(',') : String(value);
    if (flag.name === 'sts-region' || flag.default === undefined) t.equal(text, '', `agent.${camel(flag.name)} is empty: the agent decides`);
    else t.equal(text, flag.default, `agent.${camel(flag.name)} = ${flag.default}`);
  }
});

t.test('every key of values.yaml is in the schema and has a comment', async (t) => {
  const doc = parseDocument(valuesText);
  const visit = (map: YAMLMap, schemaNode: SchemaNode | undefined, path: string): void => {
    const declared = propertiesOf(schemaNode);
    map.items.forEach((pair, index) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const name = path + key;
      // The first key's comment is the map's, or the document's for the very first one.
      const comment = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (index === 0 ? map.commentBefore : undefined);
      t.ok(comment?.trim(), `${name} has a comment`);
      t.ok(declared[key], `${name} is in values.schema.json`);
      if (isMap(pair.value) && !KUBERNETES_TYPED.has(name) && Object.keys(propertiesOf(declared[key])).length > 0) visit(pair.value, declared[key], `${name}.`);
    });
  };
  if (!isMap(doc.contents)) throw new Error('values.yaml is not a map');
  visit(doc.contents, schema, '');
});
