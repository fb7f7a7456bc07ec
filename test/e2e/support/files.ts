/** Where a secret must never be found on disk: a walk of a directory tree, and a search of file contents. */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Regular files under `dir` for which `keep` holds (given the file's owner uid), not descending into
 * `skip`. Symlinks are not followed; unreadable directories and files that vanish are passed over.
 */
export function filesUnder(dir: string, keep: (path: string, uid: number) => boolean = () => true, skip: (path: string) => boolean = () => false): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const walk = (at: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(at);
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(at, entry);
      if (skip(path)) continue;
      try {
        const stat = lstatSync(path);
        if (stat.isDirectory()) walk(path);
        else if (stat.isFile() && keep(path, stat.uid)) found.push(path);
      } catch {
        // Gone meanwhile.
      }
    }
  };
  walk(dir);
  return found;
}

/** Of `files`, those that contain `secret` (a file gone or unreadable contains nothing). */
export function containing(files: readonly string[], secret: string): string[] {
  return files.filter((file) => {
    try {
      return readFileSync(file).includes(secret);
    } catch {
      return false;
    }
  });
}

/** Every regular file under `dir` whose content holds `secret`. */
export function filesContaining(dir: string, secret: string): string[] {
  return containing(filesUnder(dir), secret);
}
