import { describe, expect, it } from '@jest/globals';
import { lstatSync, mkdtempSync, readlinkSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalShell } from '../local-shell.js';
import { ReleaseStore, packFiles, releaseId, resolveRemoteDir } from './release.js';

describe('release', () => {
  it('names releases so they sort by time and say which run made them', () => {
    expect(releaseId(new Date('2026-11-22T20:01:02.345Z'), 4242, 1, 'beef')).toBe('20261122T200102Z-4242-1-beef');
    expect(releaseId(new Date(), 1, 1)).toMatch(/^\d{8}T\d{6}Z-1-1-[0-9a-f]{4}$/);
  });

  it('uploads into a new private release, switches current, and prunes the oldest', async () => {
    const shell = new LocalShell();
    const workspace = mkdtempSync(join(tmpdir(), 'slipway-ws-'));
    mkdirSync(join(workspace, 'proxy/www'), { recursive: true });
    writeFileSync(join(workspace, 'compose.yml'), 'services: {}\n');
    writeFileSync(join(workspace, 'proxy/www/run'), '#!/bin/sh\n', { mode: 0o755 });
    const store = new ReleaseStore(shell, join(mkdtempSync(join(tmpdir(), 'slipway-host-')), 'slipway/app'));
    const archive = await packFiles(workspace, ['compose.yml', 'proxy']);

    for (const id of ['r1', 'r2', 'r3']) {
      const dir = await store.create(id);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      await store.unpack(id, archive);
      await store.writeManifest({ id, project: 'app', mode: 'compose', files: ['compose.yml'], services: [], createdAt: 'now' });
      await store.activate(id);
    }
    expect(readFileSync(join(store.dir('r3'), 'compose.yml'), 'utf8')).toBe('services: {}\n');
    expect(statSync(join(store.dir('r3'), 'proxy/www/run')).mode & 0o111).toBeTruthy();
    expect(lstatSync(store.currentLink).isSymbolicLink()).toBe(true);
    expect(readlinkSync(store.currentLink)).toBe('releases/r3');
    expect((await store.current())?.id).toBe('r3');

    // A failed r4 leaves current on r3; pruning to two keeps r3 (current) and r4 (protected).
    await store.create('r4');
    expect(await store.prune(2, ['r4'])).toEqual(['r1', 'r2']);
    expect(readdirSync(store.releasesDir)).toEqual(['r3', 'r4']);
  });

  it('expands ~ against the home the target reports', async () => {
    const shell = new LocalShell();
    const home = process.env.HOME!;
    expect(await resolveRemoteDir(shell, '~/slipway/app')).toBe(join(home, 'slipway/app'));
    expect(await resolveRemoteDir(shell, 'apps/x')).toBe(join(home, 'apps/x'));
    expect(await resolveRemoteDir(shell, '/srv/app/')).toBe('/srv/app/');
  });
});
