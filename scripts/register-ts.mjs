// Lets Node 24 run this repository's TypeScript scripts (bench/, scripts/demo) directly:
// Node strips the types itself, but our sources import siblings as `./x.js` (what TypeScript's
// Bundler resolution and ts-jest expect), so map a missing `.js` to the `.ts` beside it.
// Usage: node --import ./scripts/register-ts.mjs path/to/script.ts (type stripping only: no enums or
// parameter properties in what it runs).
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.startsWith('file:')) {
      const asTs = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
      if (!existsSync(fileURLToPath(new URL(specifier, context.parentURL))) && existsSync(fileURLToPath(asTs))) {
        return nextResolve(asTs.href, context);
      }
    }
    return nextResolve(specifier, context);
  },
});
