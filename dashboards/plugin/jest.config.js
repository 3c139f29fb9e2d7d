// Unit tests of the frontend (src/**/*.test.ts[x]) in jsdom, compiled by
// swc; the ESM-only packages @grafana/ui pulls in are compiled too.
const esm = ['d3', 'd3-.*', 'internmap', 'delaunator', 'robust-predicates', 'ol', 'react-colorful', 'rxjs', 'uuid', 'marked', 'ansicolor', '@grafana/schema'];

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testMatch: ['**/*.test.ts', '**/*.test.tsx'],
  setupFilesAfterEnv: ['<rootDir>/.config/jest-setup.js'],
  transform: { '^.+\\.(m?js|jsx|tsx?)$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript', tsx: true }, transform: { react: { runtime: 'classic' } } } }] },
  // Only the last node_modules of a path counts: the tree may itself sit in a
  // node_modules (scripts/plugin.sh's cache).
  transformIgnorePatterns: [`node_modules/(?!(${esm.join('|')})/)(?!.*/node_modules/)`],
  moduleNameMapper: { '\\.(css|scss|sass)$': '<rootDir>/.config/style-mock.js' },
};
