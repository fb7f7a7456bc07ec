import { describe, expect, it } from '@jest/globals';
import { InputError, MAX_DURATION_MS, formatDuration, parseBoolean, parseChoice, parseDuration, parseInteger, parseKeyValues, parseList } from './inputs.js';

describe('inputs', () => {
  it('parses booleans and names the input when one is wrong', () => {
    expect(parseBoolean('push', '', true)).toBe(true);
    expect(parseBoolean('push', ' FALSE ', true)).toBe(false);
    expect(parseBoolean('push', 'true', false)).toBe(true);
    expect(() => parseBoolean('push', 'yes', true)).toThrow('Input `push`: expected true or false, got "yes".');
  });

  it('splits lists on newlines and commas, dropping blanks and comments', () => {
    expect(parseList('a, b\n\n  c\n# not me\nd,')).toEqual(['a', 'b', 'c', 'd']);
    expect(parseList('x,y\nz', { commas: false })).toEqual(['x,y', 'z']);
    expect(parseList('')).toEqual([]);
  });

  it('parses KEY=VALUE lines keeping the value literally', () => {
    const values = parseKeyValues('env', 'A=1\n\n# comment\nB = two = 2\nQUOTE="$(rm -rf /)" \nEMPTY=\r\n');
    expect([...values]).toEqual([
      ['A', '1'],
      ['B', ' two = 2'],
      ['QUOTE', '"$(rm -rf /)" '],
      ['EMPTY', ''],
    ]);
  });

  it('refuses a KEY=VALUE line without "=", a bad name, or a name set twice, with its line number', () => {
    expect(() => parseKeyValues('env', 'A=1\nnot a pair')).toThrow('Input `env`: line 2 has no "="');
    expect(() => parseKeyValues('env', '1A=x')).toThrow('Input `env`: line 1: "1A" is not a valid name');
    expect(() => parseKeyValues('env', 'A=1\nA=2')).toThrow('line 2: A is set twice');
  });

  it('parses durations in ms, s, m and h, bare numbers as seconds', () => {
    expect(parseDuration('t', '90s', '1m')).toBe(90_000);
    expect(parseDuration('t', '5m', '1m')).toBe(300_000);
    expect(parseDuration('t', '1h', '1m')).toBe(3_600_000);
    expect(parseDuration('t', '250ms', '1m')).toBe(250);
    expect(parseDuration('t', '30', '1m')).toBe(30_000);
    expect(parseDuration('t', '', '2m')).toBe(120_000);
    expect(parseDuration('t', '1.5s', '1m')).toBe(1500);
  });

  it('refuses durations it cannot read, naming the input', () => {
    expect(() => parseDuration('health-timeout', 'soon', '60s')).toThrow(InputError);
    expect(() => parseDuration('health-timeout', '5 minutes', '60s')).toThrow('Input `health-timeout`: "5 minutes" is not a duration');
    expect(() => parseDuration('health-timeout', '0s', '60s')).toThrow('must be longer than zero');
  });

  it('refuses durations past 24h, which Node timers would fire at once', () => {
    expect(parseDuration('command-timeout', '24h', '10m')).toBe(MAX_DURATION_MS);
    expect(parseDuration('command-timeout', '86400', '10m')).toBe(MAX_DURATION_MS);
    expect(() => parseDuration('command-timeout', '1000h', '10m')).toThrow('Input `command-timeout`: "1000h" is longer than the maximum, 24h.');
    expect(() => parseDuration('lock-timeout', '86401s', '10m')).toThrow('Input `lock-timeout`');
  });

  it('parses whole numbers within bounds', () => {
    expect(parseInteger('n', '', 3)).toBe(3);
    expect(parseInteger('n', '7', 3)).toBe(7);
    expect(() => parseInteger('n', '2.5', 3)).toThrow('Input `n`: expected a whole number');
    expect(() => parseInteger('n', '-1', 3, { min: 0 })).toThrow('must be between 0 and');
  });

  it('accepts one of a set of choices, case-insensitively', () => {
    expect(parseChoice('cache', 'GHA', ['none', 'gha'] as const, 'none')).toBe('gha');
    expect(parseChoice('cache', '', ['none', 'gha'] as const, 'none')).toBe('none');
    expect(() => parseChoice('cache', 's3', ['none', 'gha'] as const, 'none')).toThrow('Input `cache`: "s3" is not one of: none, gha.');
  });

  it('formats durations for people', () => {
    expect(formatDuration(420)).toBe('420ms');
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(125_000)).toBe('2m5s');
  });
});
