import { describe, expect, it } from '@jest/globals';
import { formatImageRef, imageName, parseImageRef, sameRegistry } from './image-ref.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('image-ref', () => {
  it('parses registry, repository, tag and digest', () => {
    expect(parseImageRef('image', `ghcr.io/owner/app:1.2@${digest}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'owner/app',
      tag: '1.2',
      digest,
      lowercased: false,
    });
  });

  it('knows a registry by its dot, its port or localhost', () => {
    expect(parseImageRef('image', '127.0.0.1:5000/team/app').registry).toBe('127.0.0.1:5000');
    expect(parseImageRef('image', 'localhost/app').registry).toBe('localhost');
    expect(parseImageRef('image', 'owner/app:latest')).toMatchObject({ registry: 'docker.io', repository: 'owner/app', tag: 'latest' });
    expect(parseImageRef('image', 'nginx')).toMatchObject({ registry: 'docker.io', repository: 'library/nginx' });
  });

  it('does not take a registry port for a tag', () => {
    const ref = parseImageRef('image', '127.0.0.1:5000/app');
    expect(ref.tag).toBeUndefined();
    expect(imageName(ref)).toBe('127.0.0.1:5000/app');
  });

  it('refuses uppercase unless asked to lowercase, as GHCR does', () => {
    expect(() => parseImageRef('image', 'ghcr.io/My-Org/App')).toThrow('Input `image`: "My-Org/App" has uppercase letters; registries accept lowercase only: use "my-org/app".');
    const lowered = parseImageRef('image', 'ghcr.io/My-Org/App:V1', { lowercase: true });
    expect(lowered).toMatchObject({ repository: 'my-org/app', tag: 'V1', lowercased: true });
  });

  it('refuses malformed references, naming the input', () => {
    expect(() => parseImageRef('image', '')).toThrow('Input `image`: is empty');
    expect(() => parseImageRef('image', 'ghcr.io/o/app name')).toThrow('contains white space');
    expect(() => parseImageRef('image', 'ghcr.io/o/app@sha256:abc')).toThrow('is not a digest');
    expect(() => parseImageRef('image', 'ghcr.io/o/app:-bad')).toThrow('tag "-bad" is not valid');
    expect(() => parseImageRef('image', 'ghcr.io/o/-app')).toThrow('"-app" in "ghcr.io/o/-app" is not a valid repository name part');
    expect(() => parseImageRef('image', 'ghcr.io/o//app')).toThrow('is not a valid repository name part');
    expect(() => parseImageRef('image', `ghcr.io/o/app:${'x'.repeat(129)}`)).toThrow('is not valid');
  });

  it('formats what it parses back', () => {
    for (const text of ['ghcr.io/o/app', 'ghcr.io/o/app:v1', `ghcr.io/o/app@${digest}`, '127.0.0.1:5000/a/b/c:t']) {
      expect(formatImageRef(parseImageRef('image', text))).toBe(text);
    }
  });

  it('takes two names for one registry when a login to one is a login to the other', () => {
    expect(sameRegistry('GHCR.io', 'ghcr.io')).toBe(true);
    expect(sameRegistry('docker.io', 'index.docker.io')).toBe(true);
    expect(sameRegistry('registry-1.docker.io', 'docker.io')).toBe(true);
    expect(sameRegistry('ghcr.io', 'docker.io')).toBe(false);
    expect(sameRegistry('10.0.0.1:5000', '10.0.0.1:5001')).toBe(false);
  });
});
