import { loadConfig } from '@flotilla/runtime';
import { describe, expect, it } from 'vitest';
import { Config } from './config.ts';
import { resolveImages } from './watched-image.ts';

/** Images as the service reads them: `FLOTILLA_IMAGES`, through the real config loader. */
const configWith = (images: unknown[]) =>
  loadConfig(Config, { env: { FLOTILLA_IMAGES: JSON.stringify(images) } });

describe('resolveImages: the repository manager repository', () => {
  it('keeps managerRepository (Nexus repository name, Artifactory repository key) on the image', () => {
    const [nexus, artifactory, plain] = resolveImages(
      configWith([
        { image: 'nexus.example:8443/platform/gateway', managerRepository: 'docker-hosted' },
        { image: 'acme.jfrog.io/docker/team/api', managerRepository: 'docker-local' },
        { image: 'ghcr.io/acme-corp/platform/api' },
      ]),
    );
    expect(nexus?.managerRepository).toBe('docker-hosted');
    expect(artifactory?.managerRepository).toBe('docker-local');
    expect(plain).not.toHaveProperty('managerRepository');
  });

  it('refuses the old nexusRepository key, naming the new one (left alone it would be ignored)', () => {
    const config = configWith([
      { image: 'nexus.example:8443/platform/gateway', nexusRepository: 'docker-hosted' },
    ]);
    expect(() => resolveImages(config)).toThrow(
      'images: nexus.example:8443/platform/gateway: nexusRepository was renamed managerRepository',
    );
  });
});
