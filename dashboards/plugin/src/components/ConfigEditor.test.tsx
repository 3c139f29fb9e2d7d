import React from 'react';
import { DataSourceSettings } from '@grafana/data';
import { fireEvent, render, screen } from '@testing-library/react';

import { ConfigEditor } from './ConfigEditor';
import { MCPDataSourceOptions, MCPSecureJsonData } from '../types';

function settings(over: Partial<DataSourceSettings<MCPDataSourceOptions, MCPSecureJsonData>> = {}) {
  return {
    id: 1,
    uid: 'mcpwatch',
    orgId: 1,
    name: 'mcpwatch',
    type: 'mcpwatch-mcpwatch-datasource',
    typeName: 'mcpwatch',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData: { addr: 'clickhouse:9000', database: 'mcpwatch' },
    secureJsonFields: {},
    ...over,
  } as DataSourceSettings<MCPDataSourceOptions, MCPSecureJsonData>;
}

describe('ConfigEditor', () => {
  it('shows the settings', () => {
    render(<ConfigEditor options={settings()} onOptionsChange={jest.fn()} />);
    expect(screen.getByLabelText('ClickHouse address')).toHaveValue('clickhouse:9000');
    expect(screen.getByLabelText('Database')).toHaveValue('mcpwatch');
    expect(screen.getByLabelText('User')).toHaveValue('');
    expect(screen.getByLabelText('NATS URL')).toHaveValue('');
  });

  it('keeps addresses in jsonData', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings()} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByLabelText('NATS URL'), { target: { value: 'nats://nats:4222' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: { addr: 'clickhouse:9000', database: 'mcpwatch', natsUrl: 'nats://nats:4222' } })
    );
  });

  it('puts the password in secureJsonData, never in jsonData', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings()} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 's3cret' } });
    const saved = onOptionsChange.mock.calls[0][0];
    expect(saved.secureJsonData).toEqual({ password: 's3cret' });
    expect(JSON.stringify(saved.jsonData)).not.toContain('s3cret');
  });

  it('shows a stored password as configured, and resets it', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({ secureJsonFields: { password: true } })} onOptionsChange={onOptionsChange} />);
    expect(screen.getByLabelText('Password')).toHaveValue('configured');
    fireEvent.click(screen.getByText('Reset'));
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ secureJsonFields: { password: false }, secureJsonData: { password: '' } })
    );
  });
});
