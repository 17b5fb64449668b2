// The config repo of the many-pipelines benchmarks (issue 16): N pipelines (pipelines/pNNN.yaml),
// each with four stages on the same four clusters (dev, test, uat, prod: every pipeline shares
// them) and five ConfigMaps per cluster in plain YAML.

export const CLUSTERS = ['dev', 'test', 'uat', 'prod'];

export const pipelineName = (i: number) => `p${String(i).padStart(3, '0')}`;

/** One cluster's objects of pipeline `p`; `run` changes their content (a commit's change). */
export const objects = (p: string, cluster: string, run: string) =>
  Array.from(
    { length: 5 },
    (_, k) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${p}-${k}, namespace: ${p} }\ndata: { cluster: ${cluster}, run: "${run}" }\n`,
  ).join('---\n');

export function manyPipelinesRepo(pipelines: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < pipelines; i++) {
    const p = pipelineName(i);
    files[`pipelines/${p}.yaml`] = `apiVersion: flotilla.io/v1
kind: Pipeline
metadata: { name: ${p} }
spec:
  owner: team-${i % 20}
  stages:
${CLUSTERS.map((c, k) => `    - name: ${c}\n      clusters: [{ name: ${c}, path: apps/${p}/${c} }]${k > 0 ? '\n      promotion: { rule: auto }' : ''}`).join('\n')}
`;
    for (const c of CLUSTERS) files[`apps/${p}/${c}/objects.yaml`] = objects(p, c, 'initial');
  }
  return files;
}
