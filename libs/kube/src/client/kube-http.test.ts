import { describe, expect, it } from 'vitest';
import { parseWarnings } from './kube-http.ts';

describe('parseWarnings', () => {
  it("reads the apiserver's Warning headers: one per header or comma-separated, quotes unescaped", () => {
    // As kube-apiserver 1.34 sends it for a deprecated node selector (seen on the test cluster).
    const nodeSelector =
      '299 - "spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use \\"kubernetes.io/os\\" instead"';
    expect(parseWarnings(nodeSelector)).toEqual([
      'spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead',
    ]);
    expect(
      parseWarnings(['299 - "example.com/v1alpha1 Widget is deprecated"', '299 - "a, b", 299 - "c \\\\ d"']),
    ).toEqual(['example.com/v1alpha1 Widget is deprecated', 'a, b', 'c \\ d']);
    expect(parseWarnings(undefined)).toEqual([]);
    expect(parseWarnings('not a warning')).toEqual([]);
  });
});
