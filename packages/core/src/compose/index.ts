export * from './compose-file.js';
export * from './override.js';
export * from './compose-cli.js';
export * from './health.js';
export * from './release.js';
export * from './swarm.js';
export * from './compose-up.js';
