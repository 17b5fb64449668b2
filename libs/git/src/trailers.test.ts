import { describe, expect, it } from 'vitest';
import { formatCommitMessage, TRACEPARENT_TRAILER, trailerValue } from './trailers.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trailerValue', () => {
  it('reads back what formatCommitMessage wrote', () => {
    const msg = formatCommitMessage('flotilla: promote web\n\nbody text', {
      'Flotilla-Promotion': 'p-1',
      [TRACEPARENT_TRAILER]: TP,
    });
    expect(trailerValue(msg, TRACEPARENT_TRAILER)).toBe(TP);
    expect(trailerValue(msg, 'flotilla-promotion')).toBe('p-1');
  });

  it('ignores a trailer-looking line outside the last paragraph and a subject-only message', () => {
    expect(trailerValue(`Flotilla-Traceparent: ${TP}\n\nreal body`, TRACEPARENT_TRAILER)).toBeUndefined();
    expect(trailerValue(`Flotilla-Traceparent: ${TP}`, TRACEPARENT_TRAILER)).toBeUndefined();
  });

  it('takes the last of repeated trailers; absent is undefined', () => {
    expect(trailerValue('s\n\nA: 1\nA: 2\n', 'A')).toBe('2');
    expect(trailerValue('s\n\nB: 1\n', 'A')).toBeUndefined();
  });
});
