import { describe, expect, it } from 'vitest';
import { parseImageReference, readMarkedImages, rewriteImages } from './image-refs.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const images = [
  { name: 'web', repository: 'localhost:5000/shop/web', policy: { semver: { range: '~1.4' } } },
];

describe('image references', () => {
  it('splits repo, tag and digest, keeping a registry port in the repository', () => {
    expect(parseImageReference(`localhost:5000/shop/web:1.4.7@${D1}`)).toEqual({
      repository: 'localhost:5000/shop/web',
      tag: '1.4.7',
      digest: D1,
    });
    expect(parseImageReference('localhost:5000/shop/web')).toEqual({ repository: 'localhost:5000/shop/web' });
  });

  it('reads full and kustomize-style markers and rewrites them idempotently', () => {
    const full = {
      path: 'c/dev/web.yaml',
      text: `image: localhost:5000/shop/web:1.4.0@${D1} # {"$imagepolicy": "web"}\n`,
    };
    const kust = {
      path: 'c/test/kustomization.yaml',
      text: `images:\n  - name: web\n    newTag: "1.4.0" # {"$imagepolicy": "web:tag"}\n    digest: ${D1} # {"$imagepolicy": "web:digest"}\n`,
    };
    expect(readMarkedImages([full], images)[0]).toMatchObject({ name: 'web', tag: '1.4.0', digest: D1 });
    expect(readMarkedImages([kust], images)[0]).toMatchObject({
      repository: 'localhost:5000/shop/web',
      tag: '1.4.0',
      digest: D1,
    });
    const ref = { policy: 'web', repository: 'localhost:5000/shop/web', tag: '1.4.7', digest: D2, pin: true };
    const changed = rewriteImages([full, kust], [ref]);
    expect(changed.map((c) => c.path)).toEqual(['c/dev/web.yaml', 'c/test/kustomization.yaml']);
    expect(changed[0]?.text).toContain(`web:1.4.7@${D2} # {"$imagepolicy": "web"}`);
    expect(rewriteImages(changed, [ref])).toEqual([]);
  });
});
