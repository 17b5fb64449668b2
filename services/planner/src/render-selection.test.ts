import { describe, expect, it } from 'vitest';
import { pipelinesToRender, touchesAny } from './render-selection.ts';

const pipelines = [
  { name: 'shop', file: 'pipelines/shop.yaml', definitionChanged: false },
  { name: 'payments', file: 'pipelines/payments.yaml', definitionChanged: false },
];
const sources = new Map<string, string[]>([
  ['shop', ['shop/dev/', 'shop/prod/', 'lib/base/']],
  ['payments', ['payments/dev/', 'payments/prod/', 'lib/shared/kustomization.yaml']],
]);
const select = (changed: string[] | null, over: Partial<Parameters<typeof pipelinesToRender>[0]> = {}) =>
  pipelinesToRender({ pipelines, changed, sources, retry: new Set(), ...over });

describe('pipelinesToRender', () => {
  it.each([
    ['a file in one cluster directory', ['shop/dev/web.yaml'], ['shop']],
    ['a file deep below a cluster directory', ['payments/prod/a/b/c.yaml'], ['payments']],
    ['a shared base one pipeline reads', ['lib/base/deploy.yaml'], ['shop']],
    ['an input file named exactly', ['lib/shared/kustomization.yaml'], ['payments']],
    ['a file beside an exact input only', ['lib/shared/other.yaml'], []],
    ['the pipeline file', ['pipelines/payments.yaml'], ['payments']],
    ['both pipelines', ['shop/prod/x.yaml', 'payments/dev/y.yaml'], ['shop', 'payments']],
    ['a path no pipeline reads', ['README.md', 'docs/x.md'], []],
    ['a sibling with a common prefix', ['shop/dev-old/web.yaml', 'shop/devx'], []],
  ])('%s', (_what, changed, expected) => {
    expect(select(changed)).toEqual(expected);
  });

  it('renders everything when the changed paths are unknown or empty', () => {
    expect(select(null)).toEqual(['shop', 'payments']);
    expect(select([])).toEqual(['shop', 'payments']);
  });

  it('renders a pipeline without known sources, one to retry, and one whose definition changed', () => {
    expect(select(['README.md'], { sources: new Map([['shop', ['shop/dev/']]]) })).toEqual(['payments']);
    expect(select(['README.md'], { retry: new Set(['shop']) })).toEqual(['shop']);
    expect(
      select(['README.md'], {
        pipelines: [
          pipelines[0] as (typeof pipelines)[0],
          { ...(pipelines[1] as (typeof pipelines)[0]), definitionChanged: true },
        ],
      }),
    ).toEqual(['payments']);
  });
});

describe('touchesAny', () => {
  it('matches files exactly and directories by prefix; the repo root matches everything', () => {
    expect(touchesAny(['a/b.yaml'], ['a/'])).toBe(true);
    expect(touchesAny(['a/b.yaml'], ['a/b.yaml'])).toBe(true);
    expect(touchesAny(['a/b.yaml'], ['a/b'])).toBe(false);
    expect(touchesAny(['ab/c.yaml'], ['a/'])).toBe(false);
    expect(touchesAny(['x/y.yaml'], ['./'])).toBe(true);
  });
});
