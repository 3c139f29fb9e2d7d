package inventory

import (
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Client is one client (address and clientInfo name): a row of the clients
// view.
type Client struct {
	ClientAddress string    `json:"client_address"`
	ClientName    string    `json:"client_name,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	ClientVersion string    `json:"client_version,omitempty"`
	UserAgents    []string  `json:"user_agents,omitempty"`
	Servers       []string  `json:"servers,omitempty"`
	Sessions      uint64    `json:"sessions"`
	Requests      uint64    `json:"requests"`
	ToolCalls     uint64    `json:"tool_calls"`
}

type clientKey struct{ address, name string }

type clientState struct {
	first, last               time.Time
	version                   latest
	agents, servers, sessions set
	requests, toolCalls       set
}

func (b *Builder) client(ev *event.Event) {
	if ev.ClientAddress == "" {
		return
	}
	k := clientKey{ev.ClientAddress, ev.ClientName}
	c := b.clients[k]
	if c == nil {
		c = &clientState{agents: set{}, servers: set{}, sessions: set{}, requests: set{}, toolCalls: set{}}
		b.clients[k] = c
	}
	if c.first.IsZero() || ev.TS.Before(c.first) {
		c.first = ev.TS
	}
	if ev.TS.After(c.last) {
		c.last = ev.TS
	}
	c.version.see(ev.TS, ev.ClientVersion)
	c.agents.add(ev.UserAgent)
	c.servers.add(ev.ServerKey)
	c.sessions.add(ev.SessionID)
	if ev.MsgType == event.MsgRequest {
		c.requests.add(ev.EventID)
		if ev.Method == "tools/call" {
			c.toolCalls.add(ev.EventID)
		}
	}
}

// Clients returns the clients, most recently seen first.
func (b *Builder) Clients() []Client {
	var out []Client
	for k, c := range b.clients {
		out = append(out, Client{
			ClientAddress: k.address, ClientName: k.name, FirstSeen: c.first, LastSeen: c.last, ClientVersion: c.version.v,
			UserAgents: c.agents.sorted(), Servers: c.servers.sorted(), Sessions: uint64(len(c.sessions)),
			Requests: uint64(len(c.requests)), ToolCalls: uint64(len(c.toolCalls)),
		})
	}
	SortClients(out)
	return out
}

// SortClients orders clients most recently seen first, then by address
// and name.
func SortClients(cs []Client) {
	slices.SortFunc(cs, func(a, b Client) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		if c := strings.Compare(a.ClientAddress, b.ClientAddress); c != 0 {
			return c
		}
		return strings.Compare(a.ClientName, b.ClientName)
	})
}
