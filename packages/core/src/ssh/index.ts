export * from './host-address.js';
export * from './host-keys.js';
export * from './private-key.js';
export * from './connection-inputs.js';
export * from './ssh-shell.js';
export * from './fleet.js';
export * from './connect-host.js';
export * from './run-on-hosts.js';
