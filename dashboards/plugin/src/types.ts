import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

// The query model the backend (dashboards/plugin/query.go) reads, plus the
// live alerts view the frontend turns into a Grafana Live subscription.
export type View = 'servers' | 'posture' | 'alerts' | 'tools' | 'clients' | 'manifests' | 'live-alerts';

export type Filter = 'server' | 'severities' | 'rule' | 'limit';

export interface MCPQuery extends DataQuery {
  view: View;
  server?: string;
  severities?: string[];
  rule?: string;
  limit?: number;
}

export interface ViewInfo {
  value: View;
  label: string;
  description: string;
  // filters the backend accepts for the view; any other is refused there.
  filters: Filter[];
}

export const VIEWS: ViewInfo[] = [
  { value: 'servers', label: 'Servers', description: 'MCP server inventory', filters: ['server'] },
  { value: 'posture', label: 'Posture', description: 'grade and failed checks per server', filters: ['server'] },
  { value: 'alerts', label: 'Alerts', description: 'stored alerts', filters: ['server', 'severities', 'rule', 'limit'] },
  { value: 'tools', label: 'Tools', description: 'tools per server', filters: ['server'] },
  { value: 'clients', label: 'Clients', description: 'clients and the servers they used', filters: ['server'] },
  { value: 'manifests', label: 'Manifests', description: 'tools/list results over time', filters: ['server', 'limit'] },
  { value: 'live-alerts', label: 'Live alerts', description: 'new alerts from NATS as they happen', filters: ['severities'] },
];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'];

export const DEFAULT_QUERY: Partial<MCPQuery> = { view: 'servers' };

export function viewInfo(view: View): ViewInfo {
  return VIEWS.find((v) => v.value === view) ?? VIEWS[0];
}

// cleanQuery drops the filters the query's view does not accept, and empty
// ones, so a query edited from one view to another stays valid.
export function cleanQuery(q: MCPQuery): MCPQuery {
  const allowed = new Set(viewInfo(q.view).filters);
  const out: MCPQuery = { ...q };
  if (!allowed.has('server') || !out.server) {
    delete out.server;
  }
  if (!allowed.has('severities') || !out.severities?.length) {
    delete out.severities;
  }
  if (!allowed.has('rule') || !out.rule) {
    delete out.rule;
  }
  if (!allowed.has('limit') || !out.limit) {
    delete out.limit;
  }
  return out;
}

// liveAlertsPath is the stream path of the backend (stream.go): "alerts"
// or "alerts/<severity>,<severity>".
export function liveAlertsPath(severities?: string[]): string {
  return severities?.length ? `alerts/${severities.join(',')}` : 'alerts';
}

export interface MCPDataSourceOptions extends DataSourceJsonData {
  addr?: string;
  database?: string;
  username?: string;
  natsUrl?: string;
  natsCredsFile?: string;
}

export interface MCPSecureJsonData {
  password?: string;
}
