// A one-cluster, one-user kubeconfig for Kubernetes client tests: the lines under `cluster:` and `user:`.

export function kubeconfig(cluster: string[], user: string[]): string {
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters:', '- name: c', '  cluster:', ...cluster.map((l) => `    ${l}`),
    'users:', '- name: u', '  user:', ...user.map((l) => `    ${l}`),
    'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u',
    '',
  ].join('\n');
}
