import { describe, expect, it } from 'vitest';
import { checkPeriodOf, envValue, healthCommandOf, splitWords } from './container-env.js';

describe('splitWords: split as a shell would, expand nothing', () => {
  it.each([
    ['ping -c1', ['ping', '-c1']],
    ['/bin/check.sh', ['/bin/check.sh']],
    [
      `sh -c 'wget -q -O- "http://$1:80/" >/dev/null' --`,
      ['sh', '-c', 'wget -q -O- "http://$1:80/" >/dev/null', '--'],
    ],
    ['echo "a b"  c\\ d', ['echo', 'a b', 'c d']],
    ['echo $HOME *.txt', ['echo', '$HOME', '*.txt']],
    ['a | b', ['a', '|', 'b']],
    ['  ', []],
  ])('%s', (command, words) => {
    expect(splitWords(command)).toEqual(words);
  });
});

describe('HEALTHCHECK from Config.Env', () => {
  it('is undefined when absent or empty (an empty value switches an image check off)', () => {
    expect(healthCommandOf(['PATH=/bin'])).toBeUndefined();
    expect(healthCommandOf(['HEALTHCHECK=ping', 'HEALTHCHECK='])).toBeUndefined();
    expect(healthCommandOf(['HEALTHCHECK=   '])).toBeUndefined();
    expect(healthCommandOf(undefined)).toBeUndefined();
  });
  it('takes the last definition, as Docker does', () => {
    expect(healthCommandOf(['HEALTHCHECK=false', 'HEALTHCHECK=true'])).toEqual(['true']);
    expect(envValue(['A=1', 'A=2=3'], 'A')).toBe('2=3');
  });
});

describe('HEALTHCHECKPERIOD', () => {
  it.each([
    [[], 30, false],
    [['HEALTHCHECKPERIOD=5'], 5, false],
    [['HEALTHCHECKPERIOD=0'], 30, true],
    [['HEALTHCHECKPERIOD=-3'], 30, true],
    [['HEALTHCHECKPERIOD=1.5'], 30, true],
    [['HEALTHCHECKPERIOD=soon'], 30, true],
  ])('%j → %d s', (env, seconds, warned) => {
    const period = checkPeriodOf(env);
    expect(period.seconds).toBe(seconds);
    expect(Boolean(period.warning)).toBe(warned);
  });
});
