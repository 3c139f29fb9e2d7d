import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';

import { QueryEditor } from './QueryEditor';
import { DataSource } from '../datasource';
import { MCPQuery } from '../types';

function setup(query: MCPQuery) {
  const onChange = jest.fn();
  const onRunQuery = jest.fn();
  render(<QueryEditor datasource={{} as DataSource} query={query} onChange={onChange} onRunQuery={onRunQuery} />);
  return { onChange, onRunQuery };
}

describe('QueryEditor', () => {
  it('shows the filters of the alerts view', () => {
    setup({ refId: 'A', view: 'alerts', severities: ['high'], rule: 'unexpected-server' });
    expect(screen.getByText('Alerts')).toBeInTheDocument();
    expect(screen.getByLabelText('Server')).toBeInTheDocument();
    expect(screen.getByLabelText('Rule')).toHaveValue('unexpected-server');
    expect(screen.getByLabelText('Limit')).toBeInTheDocument();
    expect(screen.getByText('high')).toBeInTheDocument();
  });

  it('shows only the server filter for the tools view', () => {
    setup({ refId: 'A', view: 'tools' });
    expect(screen.getByLabelText('Server')).toBeInTheDocument();
    expect(screen.queryByLabelText('Rule')).toBeNull();
    expect(screen.queryByLabelText('Limit')).toBeNull();
    expect(screen.queryByText('Severities')).toBeNull();
  });

  it('shows only severities for live alerts', () => {
    setup({ refId: 'A', view: 'live-alerts' });
    expect(screen.getByText('Severities')).toBeInTheDocument();
    expect(screen.queryByLabelText('Server')).toBeNull();
  });

  it('choosing another view drops the filters it does not accept and runs the query', () => {
    const { onChange, onRunQuery } = setup({ refId: 'A', view: 'alerts', server: 's', severities: ['high'], rule: 'r' });
    fireEvent.keyDown(screen.getByLabelText('View'), { key: 'ArrowDown' });
    fireEvent.click(screen.getByText('Tools'));
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', view: 'tools', server: 's' });
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('edits the rule and runs the query when the field is left', () => {
    const { onChange, onRunQuery } = setup({ refId: 'A', view: 'alerts' });
    fireEvent.change(screen.getByLabelText('Rule'), { target: { value: 'new-server' } });
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'A', view: 'alerts', rule: 'new-server' });
    fireEvent.blur(screen.getByLabelText('Rule'));
    expect(onRunQuery).toHaveBeenCalled();
  });
});
