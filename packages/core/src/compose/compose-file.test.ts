import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServiceNames, loadComposeFiles, localBuildContext } from './compose-file.js';

function workspace(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-compose-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const seedShape = `services:
  wserver:
    build: ./nginx
    ports:
      - "80:80"
    depends_on:
      - my-node
  my-node:
    image: ghcr.io/ej31/jeff-ex:1.3
    healthcheck:
      test: ["CMD", "true"]
`;

describe('compose-file', () => {
  it('reads the services of the files, merged in order', () => {
    const ws = workspace({ 'deploy/compose.yml': seedShape, 'deploy/prod.yml': 'services:\n  my-node:\n    image: ghcr.io/ej31/jeff-ex:2.0\n  extra:\n    image: x\n' });
    const model = loadComposeFiles('compose-files', ws, ['deploy/compose.yml', 'deploy/prod.yml']);
    expect(model.files.map((f) => f.relativePath)).toEqual(['deploy/compose.yml', 'deploy/prod.yml']);
    expect([...model.services.keys()]).toEqual(['wserver', 'my-node', 'extra']);
    expect(model.services.get('my-node')).toMatchObject({ image: 'ghcr.io/ej31/jeff-ex:2.0', hasHealthcheck: true, definedIn: 'deploy/compose.yml' });
    // Relative paths resolve from the first file's directory, as compose resolves them.
    expect(localBuildContext('compose-files', model, model.services.get('wserver')!)).toBe('deploy/nginx');
    expect(localBuildContext('compose-files', model, model.services.get('extra')!)).toBeUndefined();
  });

  it('takes URL build contexts as remote, and refuses absolute ones and those a variable names', () => {
    const ws = workspace({
      'compose.yml': [
        'services:',
        '  git:',
        '    build: https://github.com/o/r.git#main',
        '  abs:',
        '    build: /srv/app',
        '  var:',
        '    build:',
        '      context: ${APP_DIR}',
        '  bare:',
        '    build: $APP_DIR',
        '',
      ].join('\n'),
    });
    const model = loadComposeFiles('compose-files', ws, ['compose.yml']);
    const context = (name: string) => localBuildContext('compose-files', model, model.services.get(name)!);
    expect(context('git')).toBeUndefined();
    expect(() => context('abs')).toThrow('Input `compose-files`: service abs builds from /srv/app, an absolute path');
    expect(() => context('var')).toThrow('Input `compose-files`: service var builds from "${APP_DIR}", which a variable names');
    expect(() => context('bare')).toThrow('service bare builds from "$APP_DIR"');
  });

  it('reports a YAML syntax error with the file, line and column', () => {
    const ws = workspace({ 'compose.yml': 'services:\n  app:\n    image: x\n   ports: [\n' });
    expect(() => loadComposeFiles('compose-files', ws, ['compose.yml'])).toThrow('Input `compose-files`: compose.yml line 4, column 4: bad indentation of a mapping entry.');
    const duplicate = workspace({ 'compose.yml': 'services:\n  app:\n    image: x\n  app:\n    image: y\n' });
    expect(() => loadComposeFiles('compose-files', duplicate, ['compose.yml'])).toThrow('compose.yml line 4, column 3: duplicated mapping key.');
  });

  it('refuses files that are not compose files, or missing, or outside the workspace', () => {
    expect(() => loadComposeFiles('compose-files', workspace({ 'c.yml': '- a\n- b\n' }), ['c.yml'])).toThrow('c.yml: the top level must be a mapping');
    expect(() => loadComposeFiles('compose-files', workspace({ 'c.yml': 'x: 1\nservices:\n  - app\n' }), ['c.yml'])).toThrow('c.yml line 2: `services` must be a mapping');
    expect(() => loadComposeFiles('compose-files', workspace({}), ['nope.yml'])).toThrow('Input `compose-files`: cannot read nope.yml: ENOENT.');
    expect(() => loadComposeFiles('compose-files', workspace({}), ['../etc/passwd'])).toThrow('is outside the workspace');
    // Both composes refuse an empty file, a later one of the list too.
    const empty = workspace({ 'compose.yml': seedShape, 'prod.yml': '# nothing yet\n' });
    expect(() => loadComposeFiles('compose-files', empty, ['compose.yml', 'prod.yml'])).toThrow('Input `compose-files`: prod.yml is empty');
  });

  it('names the input and line of an unknown service', () => {
    const model = loadComposeFiles('compose-files', workspace({ 'compose.yml': seedShape }), ['compose.yml']);
    expect(() => checkServiceNames(model, 'images', [{ name: 'my-node' }, { name: 'api', line: 2 }])).toThrow(
      'Input `images`: line 2: "api" is not a service of compose.yml (services: wserver, my-node).',
    );
  });
});
