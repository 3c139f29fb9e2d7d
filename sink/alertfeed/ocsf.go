package alertfeed

import (
	"bytes"
	"encoding/json"
	"net"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// OCSFVersion is the OCSF schema version of MarshalOCSF's output. 1.3 is the
// newest release the major SIEMs' OCSF ingest all accept.
const OCSFVersion = "1.3.0"

// OCSF class, category and enumerations used by MarshalOCSF.
const (
	ocsfClassDetectionFinding = 2004
	ocsfCategoryFindings      = 2
	ocsfActivityCreate        = 1
	ocsfStatusNew             = 1
	ocsfAnalyticRule          = 1
)

// ocsfSeverity maps alert severities to OCSF severity_id and caption.
func ocsfSeverity(s string) (int, string) {
	switch s {
	case event.SeverityLow:
		return 2, "Low"
	case event.SeverityMedium:
		return 3, "Medium"
	case event.SeverityHigh:
		return 4, "High"
	case event.SeverityCritical:
		return 5, "Critical"
	}
	return 0, "Unknown"
}

// The OCSF objects MarshalOCSF fills. Times are OCSF timestamp_t:
// milliseconds since the Unix epoch.
type (
	ocsfFinding struct {
		ClassUID     int               `json:"class_uid"`
		ClassName    string            `json:"class_name"`
		CategoryUID  int               `json:"category_uid"`
		CategoryName string            `json:"category_name"`
		ActivityID   int               `json:"activity_id"`
		ActivityName string            `json:"activity_name"`
		TypeUID      int               `json:"type_uid"`
		TypeName     string            `json:"type_name"`
		Time         int64             `json:"time"`
		SeverityID   int               `json:"severity_id"`
		Severity     string            `json:"severity"`
		StatusID     int               `json:"status_id"`
		Status       string            `json:"status"`
		Message      string            `json:"message,omitempty"`
		Count        int64             `json:"count,omitempty"`
		Metadata     ocsfMetadata      `json:"metadata"`
		FindingInfo  ocsfFindingInfo   `json:"finding_info"`
		SrcEndpoint  *ocsfEndpoint     `json:"src_endpoint,omitempty"`
		Resources    []ocsfResource    `json:"resources,omitempty"`
		Unmapped     map[string]string `json:"unmapped,omitempty"`
	}
	ocsfMetadata struct {
		Version string      `json:"version"`
		Product ocsfProduct `json:"product"`
		UID     string      `json:"uid"`
	}
	ocsfProduct struct {
		Name       string `json:"name"`
		VendorName string `json:"vendor_name"`
	}
	ocsfFindingInfo struct {
		UID           string         `json:"uid"`
		Title         string         `json:"title"`
		Desc          string         `json:"desc,omitempty"`
		Types         []string       `json:"types,omitempty"`
		Analytic      ocsfAnalytic   `json:"analytic"`
		FirstSeenTime int64          `json:"first_seen_time,omitempty"`
		LastSeenTime  int64          `json:"last_seen_time,omitempty"`
		RelatedEvents []ocsfRelEvent `json:"related_events,omitempty"`
	}
	ocsfAnalytic struct {
		UID    string `json:"uid"`
		Name   string `json:"name"`
		TypeID int    `json:"type_id"`
		Type   string `json:"type"`
	}
	ocsfRelEvent struct {
		UID string `json:"uid"`
	}
	ocsfEndpoint struct {
		IP string `json:"ip"`
	}
	ocsfResource struct {
		UID  string `json:"uid"`
		Type string `json:"type"`
	}
)

// MarshalOCSF encodes an alert as an OCSF Detection Finding (class 2004,
// activity Create). The rule is the analytic, the MCP server the resource,
// the client address the source endpoint, the evidence event ids the related
// events; session, tool and the rule's attributes go to unmapped.
func MarshalOCSF(a *event.Alert) ([]byte, error) {
	sevID, sev := ocsfSeverity(a.Severity)
	f := ocsfFinding{
		ClassUID: ocsfClassDetectionFinding, ClassName: "Detection Finding",
		CategoryUID: ocsfCategoryFindings, CategoryName: "Findings",
		ActivityID: ocsfActivityCreate, ActivityName: "Create",
		TypeUID: ocsfClassDetectionFinding*100 + ocsfActivityCreate, TypeName: "Detection Finding: Create",
		Time:       a.TS.UnixMilli(),
		SeverityID: sevID, Severity: sev,
		StatusID: ocsfStatusNew, Status: "New",
		Message: a.Summary,
		Count:   a.Count,
		Metadata: ocsfMetadata{
			Version: OCSFVersion,
			Product: ocsfProduct{Name: "mcpwatch", VendorName: "mcpwatch"},
			UID:     a.AlertID,
		},
		FindingInfo: ocsfFindingInfo{
			UID:           a.AlertID,
			Title:         a.RuleName,
			Desc:          a.Summary,
			Analytic:      ocsfAnalytic{UID: a.RuleID, Name: a.RuleName, TypeID: ocsfAnalyticRule, Type: "Rule"},
			FirstSeenTime: millis(a.FirstSeen),
			LastSeenTime:  millis(a.LastSeen),
		},
	}
	if a.Category != "" {
		f.FindingInfo.Types = []string{a.Category}
	}
	for _, id := range a.EvidenceEventIDs {
		f.FindingInfo.RelatedEvents = append(f.FindingInfo.RelatedEvents, ocsfRelEvent{UID: id})
	}
	// src_endpoint.ip must be an IP address; anything else stays unmapped.
	unmapped := map[string]string{}
	if net.ParseIP(a.ClientAddress) != nil {
		f.SrcEndpoint = &ocsfEndpoint{IP: a.ClientAddress}
	} else if a.ClientAddress != "" {
		unmapped["client_address"] = a.ClientAddress
	}
	if a.ServerKey != "" {
		f.Resources = []ocsfResource{{UID: a.ServerKey, Type: "MCP Server"}}
	}
	for k, v := range map[string]string{"session_id": a.SessionID, "tool_name": a.ToolName} {
		if v != "" {
			unmapped[k] = v
		}
	}
	for k, v := range a.Attributes {
		unmapped["attributes."+k] = v
	}
	if len(unmapped) > 0 {
		f.Unmapped = unmapped
	}
	return marshalJSON(f)
}

func millis(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}

// marshalJSON encodes without HTML escaping: summaries and URLs are read by
// people and SIEM parsers, not embedded in HTML.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
