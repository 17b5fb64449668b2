import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.ts';
import { loadPipeline } from './parse-pipeline.ts';
import {
  canApprove,
  clustersOf,
  findStage,
  firstStage,
  nextStage,
  previousStage,
  stageOfCluster,
  stageOrder,
} from './pipeline.ts';
import { isWithinWindow, nextWindowStart, type TimeWindow } from './time-window.ts';

const pipeline = loadPipeline(
  readFileSync(new URL('./fixtures/pipelines/shop.yaml', import.meta.url), 'utf8'),
);
const stage = (name: string) => {
  const s = findStage(pipeline, name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};

describe('stage helpers', () => {
  it('orders stages and walks them', () => {
    expect(stageOrder(pipeline)).toEqual(['dev', 'test', 'uat', 'prod']);
    expect(firstStage(pipeline).name).toBe('dev');
    expect(nextStage(pipeline, 'dev')?.name).toBe('test');
    expect(nextStage(pipeline, stage('uat'))?.name).toBe('prod');
    expect(nextStage(pipeline, 'prod')).toBeNull();
    expect(nextStage(pipeline, 'nope')).toBeNull();
    expect(previousStage(pipeline, 'test')?.name).toBe('dev');
    expect(previousStage(pipeline, 'dev')).toBeNull();
  });

  it('lists clusters and finds the stage of a cluster', () => {
    expect(clustersOf(stage('uat')).map((c) => c.name)).toEqual(['uat-eu', 'uat-us']);
    expect(stageOfCluster(pipeline, 'uat-us')?.name).toBe('uat');
    expect(stageOfCluster(pipeline, 'nowhere')).toBeNull();
  });
});

describe('canApprove', () => {
  const prod = stage('prod');
  it.each([
    [{ name: 'alice' }, true],
    [{ name: 'bob', groups: ['release-managers'] }, true],
    [{ name: 'bob', groups: ['developers'] }, false],
    [{ name: 'Alice' }, false],
    [{ name: 'release-managers' }, false],
    [{ name: 'group:release-managers' }, false],
    [{ name: '' }, false],
  ])('%j on prod → %s', (identity, want) => {
    expect(canApprove(prod, identity)).toBe(want);
  });
  it('auto stages take no approvals', () => {
    expect(canApprove(stage('test'), { name: 'alice' })).toBe(false);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['1h0m10s', 3_610_000],
    ['0', 0],
    ['0s', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '5', '5 minutes', '1d', '-5m', 'm', '1h 30m', '1.h', 'PT5M'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('time windows', () => {
  const office: TimeWindow[] = [
    { days: ['mon', 'tue', 'wed', 'thu'], start: '09:00', end: '17:00', timezone: 'Europe/Berlin' },
  ];
  // 2025-03-05 is a Wednesday; Berlin is UTC+1 in winter and UTC+2 from 2025-03-30.
  it.each([
    ['2025-03-05T08:00:00Z', true], // 09:00 Berlin: start is inclusive
    ['2025-03-05T07:59:59Z', false],
    ['2025-03-05T15:59:00Z', true],
    ['2025-03-05T16:00:00Z', false], // 17:00 Berlin: end is exclusive
    ['2025-03-07T10:00:00Z', false], // Friday
    ['2025-04-02T07:30:00Z', true], // Wednesday, summer time: 09:30 Berlin
  ])('%s inside office hours: %s', (iso, want) => {
    expect(isWithinWindow(office, new Date(iso))).toBe(want);
  });

  it('no windows means always', () => {
    expect(isWithinWindow(undefined, new Date())).toBe(true);
    expect(isWithinWindow([], new Date())).toBe(true);
  });

  it('any window suffices, and 24:00 closes the day', () => {
    const w: TimeWindow[] = [
      { start: '00:00', end: '01:00' },
      { days: ['sat'], start: '22:00', end: '24:00' },
    ];
    expect(isWithinWindow(w, new Date('2025-03-08T23:59:00Z'))).toBe(true);
    expect(isWithinWindow(w, new Date('2025-03-07T23:59:00Z'))).toBe(false);
    expect(isWithinWindow(w, new Date('2025-03-07T00:30:00Z'))).toBe(true);
  });

  it('finds the next opening', () => {
    // Thursday 18:00 Berlin → next Monday 09:00 Berlin.
    expect(nextWindowStart(office, new Date('2025-03-06T17:00:00Z'))?.toISOString()).toBe(
      '2025-03-10T08:00:00.000Z',
    );
    // Wednesday 07:00 Berlin → same day 09:00.
    expect(nextWindowStart(office, new Date('2025-03-05T06:00:00Z'))?.toISOString()).toBe(
      '2025-03-05T08:00:00.000Z',
    );
    // Across the spring DST change: Thursday 27 March evening → Monday 31 March 09:00 CEST = 07:00Z.
    expect(nextWindowStart(office, new Date('2025-03-27T18:00:00Z'))?.toISOString()).toBe(
      '2025-03-31T07:00:00.000Z',
    );
    // Across the autumn change: Thursday 23 October evening → Monday 27 October 09:00 CET = 08:00Z.
    expect(nextWindowStart(office, new Date('2025-10-23T18:00:00Z'))?.toISOString()).toBe(
      '2025-10-27T08:00:00.000Z',
    );
    const inside = new Date('2025-03-05T10:00:00Z');
    expect(nextWindowStart(office, inside)).toBe(inside);
  });
});
