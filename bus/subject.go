package bus

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/mcpwatch/mcpwatch/event"
)

// Stream names and subject roots (docs/events.md, "NATS subjects").
const (
	EventsStream = "MCPWATCH_EVENTS"
	AlertsStream = "MCPWATCH_ALERTS"
	eventsRoot   = "mcpwatch.events"
	alertsRoot   = "mcpwatch.alerts"
)

// Partition is the partition of a server_key: FNV-1a 32 of its bytes modulo
// partitions. It is part of the subject scheme, so every implementation that
// publishes or owns partitions must compute it the same way.
func Partition(serverKey string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(serverKey))
	return int(h.Sum32() % uint32(partitions))
}

// Subject is the subject of an event: mcpwatch.events.<kind>.<partition>.
func Subject(ev *event.Event, partitions int) string {
	return eventsRoot + "." + string(ev.Kind) + "." + strconv.Itoa(Partition(ev.ServerKey, partitions))
}

// AlertSubject is the subject of an alert: mcpwatch.alerts.<severity>.
func AlertSubject(a *event.Alert) string {
	return alertsRoot + "." + a.Severity
}

// EventSubjects lists filter subjects for the given kinds (all kinds if none)
// and partitions (all partitions if none), as few as possible: wildcards stand
// for "all".
func EventSubjects(kinds []event.Kind, partitions []int) []string {
	kindTokens := []string{"*"}
	if len(kinds) > 0 {
		kindTokens = kindTokens[:0]
		for _, k := range kinds {
			kindTokens = append(kindTokens, string(k))
		}
	}
	if len(partitions) == 0 {
		if len(kinds) == 0 {
			return []string{eventsRoot + ".>"}
		}
		subjects := make([]string, 0, len(kindTokens))
		for _, k := range kindTokens {
			subjects = append(subjects, eventsRoot+"."+k+".*")
		}
		return subjects
	}
	subjects := make([]string, 0, len(kindTokens)*len(partitions))
	for _, k := range kindTokens {
		for _, p := range partitions {
			subjects = append(subjects, eventsRoot+"."+k+"."+strconv.Itoa(p))
		}
	}
	return subjects
}

// AlertSubjects lists filter subjects for the given severities (all if none).
func AlertSubjects(severities ...string) []string {
	if len(severities) == 0 {
		return []string{alertsRoot + ".>"}
	}
	subjects := make([]string, 0, len(severities))
	for _, s := range severities {
		subjects = append(subjects, alertsRoot+"."+s)
	}
	return subjects
}

// OwnedPartitions lists the partitions replica (0-based) of replicas owns:
// every p in [0, partitions) with p mod replicas == replica. Each partition
// has exactly one owner, so per-server state lives in one process.
func OwnedPartitions(partitions, replica, replicas int) ([]int, error) {
	if replicas < 1 || replica < 0 || replica >= replicas {
		return nil, fmt.Errorf("replica %d of %d: want 0 ≤ replica < replicas", replica, replicas)
	}
	if replicas > partitions {
		return nil, fmt.Errorf("%d replicas for %d partitions: some replicas would own nothing", replicas, partitions)
	}
	var owned []int
	for p := replica; p < partitions; p += replicas {
		owned = append(owned, p)
	}
	return owned, nil
}

// validToken reports whether s can be one NATS subject token or consumer name.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>")
}
