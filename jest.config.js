// Two projects: unit tests sit beside the code (`*.test.ts` under packages/ and actions/);
// end-to-end tests in test/e2e run the committed bundles against the sandbox (test/sandbox).
const esm = {
  extensionsToTreatAsEsm: ['.ts'],
  resolver: 'ts-jest-resolver',
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  moduleNameMapper: { '^@slipway/core$': '<rootDir>/packages/core/src/index.ts', '^@slipway/core/testing$': '<rootDir>/packages/core/src/testing/index.ts' },
};

export default {
  projects: [
    { ...esm, displayName: 'unit', testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/actions/*/src/**/*.test.ts'] },
    { ...esm, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], slowTestThreshold: 120 },
  ],
};
