import Ajv from 'ajv';
import addFormats from 'ajv-formats';

import schema from '../.config/plugin-json.schema.json';
import pluginJson from './plugin.json';

// plugin.json against the rules of Grafana's plugin.json schema
// (.config/plugin-json.schema.json), and against what the backend and the
// packaging assume.
describe('plugin.json', () => {
  const ajv = new Ajv({ allErrors: true, unicodeRegExp: false }) // the patterns are ECMA-262 without the u flag;
  addFormats(ajv);
  const validate = ajv.compile(schema);

  it('is valid', () => {
    validate(pluginJson);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('is a backend datasource with streaming, named as the Go side names it', () => {
    expect(pluginJson).toMatchObject({
      type: 'datasource',
      id: 'mcpwatch-mcpwatch-datasource',
      backend: true,
      streaming: true,
      executable: 'gpx_mcpwatch',
    });
  });

  it('the schema refuses what Grafana refuses', () => {
    for (const bad of [
      { ...pluginJson, id: 'mcpwatch' },
      { ...pluginJson, type: 'database' },
      { ...pluginJson, info: { ...pluginJson.info, version: 'one' } },
      { ...pluginJson, dependencies: {} },
      { ...pluginJson, unknownKey: true },
    ]) {
      expect(validate(bad)).toBe(false);
    }
  });
});
