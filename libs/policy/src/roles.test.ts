import { describe, expect, it } from 'vitest';
import { parsePipeline } from './parse-pipeline.ts';
import type { Stage } from './pipeline-schema.ts';
import {
  formatRoleGrant,
  hasRole,
  hasRoleIn,
  isStageOperator,
  parseRoleGrant,
  type RoleGrant,
} from './roles.ts';

const grants = (...texts: string[]): RoleGrant[] =>
  texts.map((t) => {
    const g = parseRoleGrant(t);
    if ('error' in g) throw new Error(g.error);
    return g;
  });

describe('parseRoleGrant', () => {
  it.each([
    ['read', { role: 'read', pipeline: '*', stage: '*' }],
    ['operate:shop', { role: 'operate', pipeline: 'shop', stage: '*' }],
    ['approve:shop/prod', { role: 'approve', pipeline: 'shop', stage: 'prod' }],
    ['operate:*/dev', { role: 'operate', pipeline: '*', stage: 'dev' }],
  ])('%s', (text, want) => {
    expect(parseRoleGrant(text)).toEqual(want);
    expect(formatRoleGrant(want as RoleGrant)).toBe(text === 'operate:*/dev' ? 'operate:*/dev' : text);
  });
  it.each([
    ['admin', /unknown role "admin"/],
    ['Operate', /is not role/],
    ['operate:', /is not role/],
    ['operate:Shop', /pipeline "Shop"/],
    ['operate:shop/prod/eu', /stage "prod\/eu"/],
    ['operate:shop/', /is not role/],
    ['read:sh op', /pipeline "sh op"/],
  ])('refuses %s', (text, why) => {
    const g = parseRoleGrant(text);
    expect('error' in g && g.error).toMatch(why);
  });
});

describe('hasRole', () => {
  it('a role is given only where its grant reaches', () => {
    const g = grants('operate:shop/dev', 'approve:shop/prod');
    expect(hasRole(g, 'operate', { pipeline: 'shop', stage: 'dev' })).toBe(true);
    expect(hasRole(g, 'operate', { pipeline: 'shop', stage: 'prod' })).toBe(false);
    expect(hasRole(g, 'operate', { pipeline: 'billing', stage: 'dev' })).toBe(false);
    expect(hasRole(g, 'approve', { pipeline: 'shop', stage: 'prod' })).toBe(true);
    expect(hasRole(g, 'approve', { pipeline: 'shop', stage: 'dev' })).toBe(false);
  });
  it('operate and approve include read for their scope, not each other', () => {
    const g = grants('operate:shop/dev');
    expect(hasRole(g, 'read', { pipeline: 'shop', stage: 'dev' })).toBe(true);
    expect(hasRole(g, 'read', { pipeline: 'shop', stage: 'prod' })).toBe(false);
    expect(hasRole(g, 'approve', { pipeline: 'shop', stage: 'dev' })).toBe(false);
    expect(hasRole(grants('approve'), 'operate', { pipeline: 'shop', stage: 'dev' })).toBe(false);
  });
  it('a pipeline-wide question needs a pipeline-wide grant; listings take any stage', () => {
    const g = grants('read:shop/dev');
    expect(hasRole(g, 'read', { pipeline: 'shop' })).toBe(false);
    expect(hasRoleIn(g, 'read', 'shop')).toBe(true);
    expect(hasRoleIn(g, 'read', 'billing')).toBe(false);
    expect(hasRole(grants('read:shop'), 'read', { pipeline: 'shop' })).toBe(true);
  });
  it('no grants, no role', () => {
    expect(hasRole([], 'read', { pipeline: 'shop', stage: 'dev' })).toBe(false);
    expect(hasRoleIn([], 'read', 'shop')).toBe(false);
  });
});

describe('isStageOperator', () => {
  const stage = (operators?: string[]): Stage => ({
    name: 'prod',
    clusters: [{ name: 'prod-eu', path: 'clusters/prod-eu' }],
    ...(operators ? { operators } : {}),
  });
  it('without a list the role decides; with one, names and groups narrow it', () => {
    expect(isStageOperator(stage(), { name: 'anyone' })).toBe(true);
    const s = stage(['alice', 'group:sre']);
    expect(isStageOperator(s, { name: 'alice' })).toBe(true);
    expect(isStageOperator(s, { name: 'bob', groups: ['sre'] })).toBe(true);
    expect(isStageOperator(s, { name: 'bob', groups: ['developers'] })).toBe(false);
    expect(isStageOperator(s, { name: 'group:sre' })).toBe(false);
  });
  it('flotilla.yaml refuses a malformed operator with its line', () => {
    const r = parsePipeline(
      [
        'apiVersion: flotilla.io/v1',
        'kind: Pipeline',
        'metadata: { name: shop }',
        'spec:',
        '  stages:',
        '    - name: dev',
        '      clusters: [{ name: dev, path: clusters/dev }]',
        '      operators: ["group:", " bob"]',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors.map((e) => [e.code, e.line])).toEqual([
        ['operator-invalid', 8],
        ['operator-invalid', 8],
      ]);
  });
});
