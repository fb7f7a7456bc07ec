import { describe, expect, it } from '@jest/globals';
import type { ComposeModel, ComposeService } from './compose-file.js';
import { composeInterpolate, loginRegistry } from './image-registry.js';

function model(services: Record<string, Partial<ComposeService>>): ComposeModel {
  return {
    files: [{ path: '/w/compose.yml', relativePath: 'compose.yml' }],
    services: new Map(Object.entries(services).map(([name, service]) => [name, { name, hasHealthcheck: false, definedIn: 'compose.yml', ...service }])),
  };
}

const none = new Map<string, string>();

describe('image-registry', () => {
  it('interpolates as compose does, with the values given', () => {
    const values = new Map([
      ['REG', '10.0.0.1:5000'],
      ['TAG', 'v1'],
      ['EMPTY', ''],
    ]);
    expect(composeInterpolate('${REG}/app:$TAG', values)).toBe('10.0.0.1:5000/app:v1');
    expect(composeInterpolate('a$$b', none)).toBe('a$b');
    expect(composeInterpolate('${MISSING:-ghcr.io}/${EMPTY:-o}/${EMPTY-x}app', values)).toBe('ghcr.io/o/app');
    expect(composeInterpolate('${MISSING:-${REG}}', values)).toBe('10.0.0.1:5000');
    expect(composeInterpolate('${TAG:+x}${EMPTY:+y}${EMPTY+z}${MISSING+w}', values)).toBe('xz');
    expect(composeInterpolate('${TAG:?needed}', values)).toBe('v1');
    expect(composeInterpolate('cost $5', none)).toBe('cost $5');
  });

  it('cannot interpolate what needs a value no input gives', () => {
    for (const text of ['${REG}/app', '$REG/app', '${REG:?set it}/app', '${REG/x/y}', '${unclosed']) expect(composeInterpolate(text, none)).toBeUndefined();
  });

  it('logs in to the one registry host of the images, interpolated, from `images` first', () => {
    const files = model({ app: { image: '${REG}/o/app:${TAG:-latest}' }, db: { image: 'postgres:16' }, web: { image: 'nginx' } });
    expect(loginRegistry('registry', '', { model: files, images: none, values: new Map([['REG', '10.0.0.1:5000']]) })).toBe('10.0.0.1:5000');
    // `images` replaces the file's reference, variable and all.
    expect(loginRegistry('registry', '', { model: files, images: new Map([['app', `ghcr.io/o/app@sha256:${'a'.repeat(64)}`]]), values: none })).toBe('ghcr.io');
  });

  it('never falls back to a registry the images do not name', () => {
    const files = model({ app: { image: '${REG}/o/app:v1' }, web: { image: 'nginx' } });
    expect(() => loginRegistry('registry', '', { model: files, images: none, values: none })).toThrow(
      'Input `registry`: is not set, and service app\'s image "${REG}/o/app:v1" needs a variable that no input gives',
    );
    expect(() => loginRegistry('registry', '', { model: model({ web: { image: 'nginx' }, proxy: { buildContext: './proxy', image: 'ghcr.io/o/proxy' } }), images: none, values: none })).toThrow(
      'Input `registry`: is not set, and no image comes from a registry host',
    );
    expect(() => loginRegistry('registry', '', { model: model({ a: { image: 'ghcr.io/o/a' }, b: { image: 'quay.io/o/b' } }), images: none, values: none })).toThrow(
      'Input `registry`: is not set, and the images come from several registries (ghcr.io, quay.io)',
    );
  });

  it('takes the registry given, unless the images plainly come from elsewhere', () => {
    const files = model({ a: { image: 'ghcr.io/o/a' }, b: { image: 'quay.io/o/b' } });
    expect(loginRegistry('registry', 'quay.io', { model: files, images: none, values: none })).toBe('quay.io');
    expect(loginRegistry('registry', 'registry.example', { model: model({ a: { image: '${REG}/a' } }), images: none, values: none })).toBe('registry.example');
    // A build may pull its base image from it.
    expect(loginRegistry('registry', 'registry.example', { model: model({ a: { image: 'ghcr.io/o/a' }, b: { buildContext: '.' } }), images: none, values: none })).toBe('registry.example');
    expect(loginRegistry('registry', 'index.docker.io', { model: model({ a: { image: 'me/private' } }), images: none, values: none })).toBe('index.docker.io');
    expect(() => loginRegistry('registry', 'registry.example', { model: files, images: none, values: none })).toThrow(
      'Input `registry`: is registry.example, but the images come from ghcr.io, quay.io',
    );
  });
});
