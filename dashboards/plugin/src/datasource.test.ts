import { DataQueryRequest, DataSourceInstanceSettings, LiveChannelScope } from '@grafana/data';
import { of } from 'rxjs';

import { DataSource } from './datasource';
import { MCPDataSourceOptions, MCPQuery } from './types';

const getDataStream = jest.fn(() => of({ data: ['live'] }));

jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getGrafanaLiveSrv: () => ({ getDataStream }),
  getTemplateSrv: () => ({ replace: (s: string) => s.replace('$server', 'https://mcp.example.com/mcp') }),
}));

const ds = new DataSource({
  uid: 'mcpwatch-uid',
  id: 1,
  type: 'mcpwatch-mcpwatch-datasource',
  name: 'mcpwatch',
  jsonData: {},
  meta: {},
} as unknown as DataSourceInstanceSettings<MCPDataSourceOptions>);

describe('DataSource', () => {
  it('subscribes live alerts to the backend stream of its severities', (done) => {
    const request = { requestId: 'Q1', targets: [{ refId: 'A', view: 'live-alerts', severities: ['high', 'critical'] }] };
    ds.query(request as unknown as DataQueryRequest<MCPQuery>).subscribe({
      next: (res) => expect(res.data).toEqual(['live']),
      complete: () => {
        expect(getDataStream).toHaveBeenCalledWith({
          key: 'Q1-A',
          addr: { scope: LiveChannelScope.DataSource, namespace: 'mcpwatch-uid', path: 'alerts/high,critical' },
        });
        done();
      },
    });
  });

  it('expands template variables and drops filters the view does not take', () => {
    const q = ds.applyTemplateVariables({ refId: 'A', view: 'tools', server: '$server', rule: 'r', severities: ['low'] }, {});
    expect(q).toEqual({ refId: 'A', view: 'tools', server: 'https://mcp.example.com/mcp' });
  });

  it('defaults to the servers view and skips hidden queries', () => {
    expect(ds.getDefaultQuery()).toEqual({ view: 'servers' });
    expect(ds.filterQuery({ refId: 'A', view: 'alerts', hide: true })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', view: 'alerts' })).toBe(true);
  });
});
