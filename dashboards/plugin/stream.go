package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// Live alerts: a panel subscribes to the channel path "alerts" (every
// severity) or "alerts/high,critical" (those severities), and RunStream
// sends each new alert of the bus as a one-row frame (alertFrame) while
// someone watches. Grafana runs one RunStream per path however many panels
// watch it.

const alertsPath = "alerts"

var severities = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}

// streamSeverities parses a channel path; ok is false for a path that is
// not a live alerts channel.
func streamSeverities(path string) (sev []string, ok bool) {
	if path == alertsPath {
		return nil, true
	}
	rest, found := strings.CutPrefix(path, alertsPath+"/")
	if !found || rest == "" {
		return nil, false
	}
	for _, s := range strings.Split(rest, ",") {
		if !severities[s] {
			return nil, false
		}
		sev = append(sev, s)
	}
	return sev, true
}

// SubscribeStream admits subscriptions to the live alerts channels when a
// NATS URL is configured.
func (d *Datasource) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if _, ok := streamSeverities(req.Path); !ok {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	if d.settings.NATSURL == "" {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusPermissionDenied}, nil
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
}

// PublishStream refuses: the channels are fed by the bus only.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream sends the alerts of the bus to the channel until Grafana ends
// the stream (ctx), nobody watching any more.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	sev, _ := streamSeverities(req.Path)
	var sendErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := bus.WatchAlerts(ctx, d.settings.NATSURL, bus.Auth{CredsFile: d.settings.NATSCredsFile}, sev, func(a *event.Alert) {
		if err := sender.SendFrame(alertFrame(a), data.IncludeAll); err != nil {
			sendErr = err
			cancel()
		}
	})
	if sendErr != nil {
		return sendErr
	}
	return err
}

// alertFrame is one alert as a frame with the columns of the alerts view.
func alertFrame(a *event.Alert) *data.Frame {
	return data.NewFrame("alerts",
		data.NewField("ts", nil, []time.Time{a.TS.UTC()}),
		data.NewField("severity", nil, []string{a.Severity}),
		data.NewField("rule_id", nil, []string{a.RuleID}),
		data.NewField("summary", nil, []string{a.Summary}),
		data.NewField("server_key", nil, []string{a.ServerKey}),
		data.NewField("client_address", nil, []string{a.ClientAddress}),
		data.NewField("tool_name", nil, []string{a.ToolName}),
		data.NewField("session_id", nil, []string{a.SessionID}),
		data.NewField("alert_id", nil, []string{a.AlertID}),
	)
}
