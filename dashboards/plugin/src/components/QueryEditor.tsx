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
        <TextFilter label="Server" width={40} tooltip="server_key, e.g. https://mcp.example.com/mcp; template variables allowed"
          value={query.server} onChange={(server) => onChange({ ...query, server })} onDone={() => update(query)} />
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
        <TextFilter label="Rule" width={24} tooltip="rule_id, e.g. unexpected-server"
          value={query.rule} onChange={(rule) => onChange({ ...query, rule })} onDone={() => update(query)} />
      )}
      {has('limit') && (
        <TextFilter label="Limit" width={10} tooltip="rows, default 100, at most 10000" type="number"
          value={query.limit} onChange={(v) => onChange({ ...query, limit: Number(v) || undefined })} onDone={() => update(query)} />
      )}
    </InlineFieldRow>
  );
}

interface TextFilterProps {
  label: string;
  tooltip: string;
  width: number;
  type?: 'text' | 'number';
  value?: string | number;
  onChange: (value: string) => void;
  // onDone runs the query once the field is left, not at every key.
  onDone: () => void;
}

function TextFilter({ label, tooltip, width, type, value, onChange, onDone }: TextFilterProps) {
  return (
    <InlineField label={label} labelWidth={label.length + 4} tooltip={tooltip}>
      <Input
        aria-label={label}
        type={type}
        width={width}
        value={value ?? ''}
        onChange={(e) => onChange(e.currentTarget.value)}
        onBlur={onDone}
      />
    </InlineField>
  );
}
