package sink

import (
	"sync/atomic"
	"time"
)

// BatchStats are a BatchWriter's counters since it started. They are plain
// numbers so that sink needs no metrics library; the process exports them
// (e.g. as Prometheus CounterFuncs) under its own names.
type BatchStats struct {
	EventsWritten, AlertsWritten int64 // rows stored
	DeadLetters                  int64 // rows refused as bad data and set aside
	Batches                      int64 // batches stored
	Retries                      int64 // failed writes retried after a backoff
	Queued                       int64 // rows accepted, not yet in a batch being written
	// BatchTime is the total time spent storing batches, retries included;
	// divided by Batches it is the mean write latency.
	BatchTime time.Duration
}

type batchCounters struct {
	eventsWritten, alertsWritten atomic.Int64
	deadLetters                  atomic.Int64
	batches, retries, queued     atomic.Int64
	batchNanos                   atomic.Int64
}

func (c *batchCounters) rowsWritten(what string, n int) {
	if what == "alerts" {
		c.alertsWritten.Add(int64(n))
	} else {
		c.eventsWritten.Add(int64(n))
	}
}

// Stats returns the writer's counters.
func (b *BatchWriter) Stats() BatchStats {
	c := &b.counters
	return BatchStats{
		EventsWritten: c.eventsWritten.Load(),
		AlertsWritten: c.alertsWritten.Load(),
		DeadLetters:   c.deadLetters.Load(),
		Batches:       c.batches.Load(),
		Retries:       c.retries.Load(),
		Queued:        c.queued.Load(),
		BatchTime:     time.Duration(c.batchNanos.Load()),
	}
}
