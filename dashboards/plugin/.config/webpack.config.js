// Builds src/ into dist/ the way @grafana/create-plugin's webpack config
// does: one AMD module.js that Grafana loads with SystemJS, with React,
// RxJS and the @grafana packages taken from Grafana at run time
// (externals), plugin.json (version and date filled in), the logo and the
// README copied beside it.
const path = require('path');
const CopyWebpackPlugin = require('copy-webpack-plugin');
const pkg = require('../package.json');
const pluginJson = require('../src/plugin.json');

const today = new Date().toISOString().slice(0, 10);

module.exports = (env) => ({
  mode: env.production ? 'production' : 'development',
  devtool: env.production ? 'source-map' : 'eval-source-map',
  context: path.join(__dirname, '..', 'src'),
  entry: { module: './module.ts' },
  externals: [
    'lodash', 'react', 'react-dom', 'react-router', 'react-router-dom', '@emotion/react', '@emotion/css', 'emotion',
    'rxjs', 'rxjs/operators', 'd3', '@grafana/data', '@grafana/ui', '@grafana/runtime', '@grafana/schema',
  ],
  output: {
    clean: { keep: /gpx_/ },
    filename: '[name].js',
    library: { type: 'amd' },
    path: path.resolve(__dirname, '..', 'dist'),
    publicPath: `public/plugins/${pluginJson.id}/`,
    uniqueName: pluginJson.id,
  },
  module: {
    rules: [
      {
        test: /\.[tj]sx?$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: { jsc: { target: 'es2015', parser: { syntax: 'typescript', tsx: true } } },
        },
      },
    ],
  },
  plugins: [
    new CopyWebpackPlugin({
      patterns: [
        {
          from: 'plugin.json',
          to: '.',
          transform: (content) =>
            content.toString().replace('%VERSION%', pkg.version).replace('%TODAY%', today),
        },
        { from: 'img', to: 'img' },
        { from: '../README.md', to: '.' },
      ],
    }),
  ],
  resolve: { extensions: ['.ts', '.tsx', '.js'] },
});
