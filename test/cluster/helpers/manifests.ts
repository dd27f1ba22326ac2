// Rendering the chart and the kustomization the way users do, and picking objects out of them.

import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { env, run, type Run } from './cluster.ts';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CHART = `${REPO}helm/sluice`;
export const DEPLOY = `${REPO}deploy`;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null && typeof m === 'object' && 'kind' in m);
}

export function toYaml(manifests: Manifest[]): string {
  return manifests.map((m) => JSON.stringify(m)).join('\n---\n');
}

export async function helm(args: string[]): Promise<Run> {
  return run(env.helm, args);
}

/** The values a user must set (the chart refuses to render without them); later --set/--values override. */
export const REQUIRED_VALUES = ['--set', 'image.repository=registry.example.com/platform/sluice', '--set', 'discovery.service=my-app'];

/** `helm template sluice helm/sluice -n NAMESPACE REQUIRED_VALUES ARGS...`; throws with helm's message on failure. */
export async function helmTemplate(namespace: string, args: string[] = []): Promise<string> {
  const r = await helm(['template', 'sluice', CHART, '--namespace', namespace, ...REQUIRED_VALUES, ...args]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export async function kustomizeDeploy(): Promise<string> {
  const r = await run(env.kubectl, ['kustomize', DEPLOY]);
  if (r.code !== 0) throw new Error(`kubectl kustomize deploy/ failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
