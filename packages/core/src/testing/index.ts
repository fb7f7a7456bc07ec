/**
 * For unit tests only, as `@slipway/core/testing`: no action imports it, so no bundle holds it.
 * Tests inside packages/core import the modules here by relative path.
 */
export * from './scripted-shell.js';
export * from './clock.js';
export * from './summary.js';
export * from './docker.js';
