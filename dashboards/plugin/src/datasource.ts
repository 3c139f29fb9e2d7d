import {
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  LiveChannelScope,
  ScopedVars,
} from '@grafana/data';
import { DataSourceWithBackend, getGrafanaLiveSrv, getTemplateSrv } from '@grafana/runtime';
import { merge, Observable } from 'rxjs';

import { cleanQuery, DEFAULT_QUERY, liveAlertsPath, MCPDataSourceOptions, MCPQuery } from './types';

export class DataSource extends DataSourceWithBackend<MCPQuery, MCPDataSourceOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<MCPDataSourceOptions>) {
    super(instanceSettings);
  }

  getDefaultQuery(): Partial<MCPQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: MCPQuery): boolean {
    return !query.hide && Boolean(query.view);
  }

  applyTemplateVariables(query: MCPQuery, scopedVars: ScopedVars): MCPQuery {
    const srv = getTemplateSrv();
    return cleanQuery({
      ...query,
      server: query.server ? srv.replace(query.server, scopedVars) : undefined,
      rule: query.rule ? srv.replace(query.rule, scopedVars) : undefined,
    });
  }

  // Live alerts are a Grafana Live channel of this datasource, fed by the
  // backend's RunStream; every other view is a query to the backend.
  query(request: DataQueryRequest<MCPQuery>): Observable<DataQueryResponse> {
    const live = request.targets.filter((t) => t.view === 'live-alerts' && !t.hide);
    const stored = request.targets.filter((t) => t.view !== 'live-alerts');
    const streams: Array<Observable<DataQueryResponse>> = live.map((t) =>
      getGrafanaLiveSrv().getDataStream({
        key: `${request.requestId}-${t.refId}`,
        addr: { scope: LiveChannelScope.DataSource, namespace: this.uid, path: liveAlertsPath(t.severities) },
      })
    );
    if (stored.length > 0) {
      streams.push(super.query({ ...request, targets: stored }));
    }
    return merge(...streams);
  }
}
