import { describe, expect, it } from '@jest/globals';
import { automaticTags, sanitizeTag } from './tags.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

describe('tags', () => {
  it('tags a push to the default branch with the branch, latest and sha-<7>', () => {
    expect(automaticTags({ eventName: 'push', sha, ref: 'refs/heads/main', defaultBranch: 'main' })).toEqual(['main', 'latest', 'sha-0123456']);
  });

  it('tags another branch without latest, sanitizing its name', () => {
    expect(automaticTags({ eventName: 'workflow_dispatch', sha, ref: 'refs/heads/Feature/Login#2', defaultBranch: 'main' })).toEqual(['feature-login-2', 'sha-0123456']);
  });

  it('tags a vX.Y.Z release with X.Y.Z, X.Y, X and latest', () => {
    expect(automaticTags({ eventName: 'push', sha, ref: 'refs/tags/v1.2.3', defaultBranch: 'main' })).toEqual(['1.2.3', '1.2', '1', 'latest', 'sha-0123456']);
  });

  it('gives a pre-release only its own version, and no latest', () => {
    expect(automaticTags({ eventName: 'push', sha, ref: 'refs/tags/v2.0.0-rc.1' })).toEqual(['2.0.0-rc.1', 'sha-0123456']);
  });

  it('leaves out the major tag 0, which would name every pre-1.0 release', () => {
    expect(automaticTags({ eventName: 'push', sha, ref: 'refs/tags/v0.4.1' })).toEqual(['0.4.1', '0.4', 'latest', 'sha-0123456']);
  });

  it('tags a git tag that is not semver with its sanitized name', () => {
    expect(automaticTags({ eventName: 'push', sha, ref: 'refs/tags/release/Autumn' })).toEqual(['release-autumn', 'sha-0123456']);
  });

  it('tags a pull request pr-N, from the payload or the ref', () => {
    expect(automaticTags({ eventName: 'pull_request', sha, ref: 'refs/pull/42/merge', pullRequestNumber: 42 })).toEqual(['pr-42', 'sha-0123456']);
    expect(automaticTags({ eventName: 'pull_request', sha, ref: 'refs/pull/7/merge' })).toEqual(['pr-7', 'sha-0123456']);
  });

  it('always has sha-<7> when the sha is known', () => {
    expect(automaticTags({ eventName: 'schedule', sha, ref: '' })).toEqual(['sha-0123456']);
  });

  it('makes any name a valid docker tag', () => {
    expect(sanitizeTag('..Weird Name!!')).toBe('weird-name');
    expect(sanitizeTag('a'.repeat(200))).toHaveLength(128);
    expect(sanitizeTag('-x-')).toBe('x');
  });
});
