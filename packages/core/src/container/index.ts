export * from './spec.js';
export * from './program.js';
export * from './deployment.js';
export * from './inspect.js';
