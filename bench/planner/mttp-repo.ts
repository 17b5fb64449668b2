import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * An "MTTP-style" config repo: many teams' apps in one mono-repo (apps/team-NN/app-NNNN bases,
 * a Deployment and a Service each) and one cluster overlay, clusters/prod, listing them all.
 */
export async function writeMttpRepo(root: string, apps: number): Promise<void> {
  const resources: string[] = [];
  for (let i = 0; i < apps; i++) {
    const team = `team-${String(i % 40).padStart(2, '0')}`;
    const app = `app-${String(i).padStart(4, '0')}`;
    const dir = join(root, 'apps', team, app);
    await mkdir(dir, { recursive: true });
    resources.push(`../../apps/${team}/${app}`);
    await writeFile(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${team}\nresources:\n  - deployment.yaml\n  - service.yaml\n`,
    );
    await writeFile(
      join(dir, 'deployment.yaml'),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${app}\n  labels: { app: ${app} }\nspec:\n  replicas: 2\n  selector:\n    matchLabels: { app: ${app} }\n  template:\n    metadata:\n      labels: { app: ${app} }\n    spec:\n      containers:\n        - name: ${app}\n          image: localhost:5000/${team}/${app}:1.0.${i}\n          ports: [{ containerPort: 8080 }]\n`,
    );
    await writeFile(
      join(dir, 'service.yaml'),
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${app}\nspec:\n  selector: { app: ${app} }\n  ports: [{ port: 80, targetPort: 8080 }]\n`,
    );
  }
  await mkdir(join(root, 'clusters/prod'), { recursive: true });
  await writeFile(
    join(root, 'clusters/prod/kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonAnnotations:\n  flotilla.io/cluster: prod\nresources:\n${resources.map((r) => `  - ${r}`).join('\n')}\n`,
  );
}
