import { cleanQuery, liveAlertsPath, VIEWS } from './types';

describe('cleanQuery', () => {
  it('keeps the filters the view accepts', () => {
    const q = { refId: 'A', view: 'alerts' as const, server: 's', severities: ['high'], rule: 'r', limit: 5 };
    expect(cleanQuery(q)).toEqual(q);
  });

  it('drops the filters the backend would refuse for the view', () => {
    const q = { refId: 'A', view: 'tools' as const, server: 's', severities: ['high'], rule: 'r', limit: 5 };
    expect(cleanQuery(q)).toEqual({ refId: 'A', view: 'tools', server: 's' });
  });

  it('drops empty filters', () => {
    expect(cleanQuery({ refId: 'A', view: 'alerts', server: '', severities: [], rule: '', limit: 0 })).toEqual({
      refId: 'A',
      view: 'alerts',
    });
  });
});

describe('views', () => {
  it('offers every view of the backend and the live alerts', () => {
    expect(VIEWS.map((v) => v.value)).toEqual(['servers', 'posture', 'alerts', 'tools', 'clients', 'manifests', 'live-alerts']);
  });
});

describe('liveAlertsPath', () => {
  it('names the backend stream path', () => {
    expect(liveAlertsPath()).toBe('alerts');
    expect(liveAlertsPath([])).toBe('alerts');
    expect(liveAlertsPath(['high', 'critical'])).toBe('alerts/high,critical');
  });
});
