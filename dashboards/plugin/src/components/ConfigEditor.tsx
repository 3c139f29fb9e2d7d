import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { InlineField, Input, SecretInput } from '@grafana/ui';

import { MCPDataSourceOptions, MCPSecureJsonData } from '../types';

type Props = DataSourcePluginOptionsEditorProps<MCPDataSourceOptions, MCPSecureJsonData>;

type TextSetting = 'addr' | 'database' | 'username' | 'natsUrl' | 'natsCredsFile';

const fields: Array<{ key: TextSetting; label: string; placeholder: string; tooltip: string }> = [
  { key: 'addr', label: 'ClickHouse address', placeholder: 'clickhouse:9000', tooltip: 'host:port of the native protocol' },
  { key: 'database', label: 'Database', placeholder: 'mcpwatch', tooltip: 'the database mcpwatch store writes' },
  { key: 'username', label: 'User', placeholder: 'default', tooltip: 'a read-only user is enough: every query runs read-only' },
  { key: 'natsUrl', label: 'NATS URL', placeholder: 'nats://nats:4222', tooltip: 'the bus, for live alerts; empty turns them off' },
  { key: 'natsCredsFile', label: 'NATS creds file', placeholder: '/etc/grafana/mcpwatch.creds', tooltip: 'on the Grafana host, if NATS needs one' },
];

// ConfigEditor edits where ClickHouse and NATS are; the ClickHouse password
// is secure JSON: Grafana stores it encrypted and never sends it back.
export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields } = options;
  const secureJsonData = (options.secureJsonData ?? {}) as MCPSecureJsonData;
  const setText = (key: TextSetting) => (e: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, jsonData: { ...jsonData, [key]: e.target.value } });
  return (
    <>
      {fields.map((f) => (
        <InlineField key={f.key} label={f.label} labelWidth={20} tooltip={f.tooltip}>
          <Input aria-label={f.label} width={40} placeholder={f.placeholder} value={jsonData[f.key] ?? ''} onChange={setText(f.key)} />
        </InlineField>
      ))}
      <InlineField label="Password" labelWidth={20} tooltip="the ClickHouse user's password">
        <SecretInput
          aria-label="Password"
          width={40}
          isConfigured={Boolean(secureJsonFields?.password)}
          value={secureJsonData.password ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) =>
            onOptionsChange({ ...options, secureJsonData: { ...secureJsonData, password: e.target.value } })
          }
          onReset={() =>
            onOptionsChange({
              ...options,
              secureJsonFields: { ...secureJsonFields, password: false },
              secureJsonData: { ...secureJsonData, password: '' },
            })
          }
        />
      </InlineField>
    </>
  );
}
