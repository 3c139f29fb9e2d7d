// Unit tests of the frontend (src/**/*.test.ts[x]) in jsdom, compiled by
// swc; the ESM-only packages @grafana/ui pulls in are compiled too.
const esm = ['d3', 'd3-.*', 'internmap', 'delaunator', 'robust-predicates', 'ol', 'react-colorful', 'rxjs', 'uuid', 'marked', 'ansicolor', '@grafana/schema'];

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testMatch: ['**/*.test.ts', '**/*.test.tsx'],
  setupFilesAfterEnv: ['<rootDir>/.config/jest-setup.js'],
  transform: { '^.+\\.(m?js|jsx|tsx?)$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript', tsx: true }, transform: { react: { runtime: 'classic' } } } }] },
  transformIgnorePatterns: [`node_modules/(?!(${esm.join('|')})/)`],
  moduleNameMapper: { '\\.(css|scss|sass)$': '<rootDir>/.config/style-mock.js' },
};
