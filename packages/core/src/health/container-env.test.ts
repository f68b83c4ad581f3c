import { describe, expect, it } from 'vitest';
import { checkPeriodOf, envValue, healthCommandOf, shellSyntaxWarning, splitWords } from './container-env.js';

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

describe('HEALTHCHECKPERIOD: a whole number of seconds from 1 to 86400, else a warning and 30', () => {
  it.each([
    [[], 30],
    [['HEALTHCHECKPERIOD='], 30],
    [['HEALTHCHECKPERIOD=5'], 5],
    [['HEALTHCHECKPERIOD=1'], 1],
    [['HEALTHCHECKPERIOD=86400'], 86400],
    [['HEALTHCHECKPERIOD= 10 '], 10],
  ])('%j → %d s, no warning', (env, seconds) => {
    expect(checkPeriodOf(env)).toEqual({ seconds });
  });

  it.each([
    ['0'],
    ['86401'],
    ['3000000'],
    ['1.5'],
    ['soon'],
    ['-3'],
    ['1e3'],
    ['0x10'],
    ['99999999999999999999'],
  ])('HEALTHCHECKPERIOD=%s → 30 s with a warning naming the value and the range', (value) => {
    expect(checkPeriodOf([`HEALTHCHECKPERIOD=${value}`])).toEqual({
      seconds: 30,
      warning: `HEALTHCHECKPERIOD="${value}" is not a whole number of seconds from 1 to 86400; using 30`,
    });
  });
});

describe('shellSyntaxWarning: shell syntax that running the words directly cannot honour', () => {
  it.each([
    ['wget -q -O /dev/null || exit 1', '||'],
    ['test -f /ready && echo ok', '&&'],
    ['ps | grep nginx', '|'],
    ['true; false', ';'],
    ['cat < /etc/hostname', '<'],
    ['echo ok > /tmp/out', '>'],
    ['curl -f localhost >> /tmp/log', '>>'],
    ['check 2>&1', '>&'],
    ['sleep 1 &', '&'],
    ['test $(cat /ready) = yes', '$('],
    ['test `cat /ready` = yes', '`'],
    ['wget -q http://x/ || exit 1 > /dev/null', '|| >'],
  ])('%s → %s', (command, found) => {
    expect(shellSyntaxWarning(command)).toBe(
      `HEALTHCHECK="${command}" holds shell syntax (${found}) that reaches the command as plain words, ` +
        `because it runs without a shell; to have a shell read it, write HEALTHCHECK=sh -c '…' -- ` +
        `(the container's IP then arrives as $1) in an image that has a shell`,
    );
  });

  it.each([
    ['ping -c1'],
    ['/bin/check.sh --port 80'],
    [`sh -c 'wget -q -O /dev/null "http://$1/" || exit 1' --`],
    [`sh -c "test -f /ready && echo ok" --`],
    [`sh -c 'echo \`date\`; echo $(date)' --`],
    ['echo \\| \\; \\> \\` done'],
    ['echo "a|b" \'c;d\''],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, not a placeholder
    ['echo $HOME ${PATH} *.txt'],
    // Quoted `$(` is left alone: in `sh -c "…$(…)"`, the fix itself, it is for the inner shell.
    ['test "$(cat /ready)" = yes'],
    [`sh -c "test \\"$(cat /ready)\\" = yes" --`],
    ['check # comment || not an operator'],
    [''],
  ])('%s → no warning', (command) => {
    expect(shellSyntaxWarning(command)).toBeUndefined();
  });
});
