export * from './deploy-lock.js';
export * from './release-history.js';
export * from './run-locks.js';
export * from './leftovers.js';
export * from './timeline.js';
export * from './layout.js';
