import React from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, MultiSelect, Select } from '@grafana/ui';

import { DataSource } from '../datasource';
import { cleanQuery, MCPDataSourceOptions, MCPQuery, SEVERITIES, View, viewInfo, VIEWS } from '../types';

type Props = QueryEditorProps<DataSource, MCPQuery, MCPDataSourceOptions>;

const viewOptions = VIEWS.map((v) => ({ value: v.value, label: v.label, description: v.description }));
const severityOptions = SEVERITIES.map((s) => ({ value: s, label: s }));

// QueryEditor picks the view and shows only the filters that view accepts.
export function QueryEditor({ query, onChange, onRunQuery }: Props) {
  const view = viewInfo(query.view);
  const has = (f: string) => view.filters.some((x) => x === f);
  const update = (q: MCPQuery) => {
    onChange(cleanQuery(q));
    onRunQuery();
  };
  return (
    <InlineFieldRow>
      <InlineField label="View" labelWidth={10}>
        <Select
          inputId="mcpwatch-view"
          aria-label="View"
          width={20}
          options={viewOptions}
          value={view.value}
          onChange={(v: SelectableValue<View>) => update({ ...query, view: v.value ?? 'servers' })}
        />
      </InlineField>
      {has('server') && (
        <InlineField label="Server" labelWidth={10} tooltip="server_key, e.g. https://mcp.example.com/mcp; template variables allowed">
          <Input
            aria-label="Server"
            width={40}
            value={query.server ?? ''}
            onChange={(e) => onChange({ ...query, server: e.currentTarget.value })}
            onBlur={() => update(query)}
          />
        </InlineField>
      )}
      {has('severities') && (
        <InlineField label="Severities" labelWidth={12}>
          <MultiSelect
            inputId="mcpwatch-severities"
            aria-label="Severities"
            width={30}
            options={severityOptions}
            value={query.severities ?? []}
            onChange={(vs: Array<SelectableValue<string>>) =>
              update({ ...query, severities: vs.map((v) => v.value!).filter(Boolean) })
            }
          />
        </InlineField>
      )}
      {has('rule') && (
        <InlineField label="Rule" labelWidth={8} tooltip="rule_id, e.g. unexpected-server">
          <Input
            aria-label="Rule"
            width={24}
            value={query.rule ?? ''}
            onChange={(e) => onChange({ ...query, rule: e.currentTarget.value })}
            onBlur={() => update(query)}
          />
        </InlineField>
      )}
      {has('limit') && (
        <InlineField label="Limit" labelWidth={8} tooltip="rows, default 100, at most 10000">
          <Input
            aria-label="Limit"
            type="number"
            width={10}
            value={query.limit ?? ''}
            onChange={(e) => onChange({ ...query, limit: Number(e.currentTarget.value) || undefined })}
            onBlur={() => update(query)}
          />
        </InlineField>
      )}
    </InlineFieldRow>
  );
}
