import { describe, expect, it } from 'vitest';
import { isStopping, signalNumberOf } from './signals.js';

describe('signalNumberOf: Docker spellings of a signal', () => {
  it.each([
    ['SIGTERM', 15],
    ['TERM', 15],
    ['15', 15],
    ['SIGWINCH', 28],
    ['winch', 28],
    ['SIGQUIT', 3],
    ['SIGRTMIN+3', 37],
    ['RTMIN', 34],
    ['SIGRTMAX-1', 63],
    ['SIGKILL', 9],
    ['', undefined],
    ['SIGNOPE', undefined],
    ['99', undefined],
  ])('%j → %s', (name, number) => {
    expect(signalNumberOf(name)).toBe(number);
  });
});

describe('isStopping: does a kill event end the container?', () => {
  it.each([
    ['15', undefined, true],
    ['9', 'SIGWINCH', true],
    ['28', 'SIGWINCH', true],
    ['28', undefined, false],
    ['3', '', true],
    ['37', 'SIGRTMIN+3', true],
    ['37', 'SIGTERM', false],
    ['1', 'SIGTERM', false],
    ['10', '10', true],
    [undefined, undefined, true],
  ])('signal %s with stop signal %s → %s', (sent, stop, stopping) => {
    expect(isStopping(sent, stop)).toBe(stopping);
  });
});
