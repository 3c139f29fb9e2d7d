package counters

import (
	"maps"
	"testing"
	"time"
)

type stats struct {
	Packets uint64
	Open    int
	Ended   struct{ FIN, RST uint64 }
	Events  map[string]int64
	Since   time.Time
	private int
}

func TestAdd(t *testing.T) {
	a := stats{Packets: 3, Open: 1, Events: map[string]int64{"message": 2}, private: 5}
	a.Ended.FIN = 1
	b := stats{Packets: 4, Open: 2, Events: map[string]int64{"message": 1, "flow": 7}}
	b.Ended.RST = 2
	var sum stats
	Add(&sum, a)
	Add(&sum, b)
	if sum.Packets != 7 || sum.Open != 3 || sum.Ended.FIN != 1 || sum.Ended.RST != 2 || sum.private != 0 {
		t.Errorf("sum %+v", sum)
	}
	if want := map[string]int64{"message": 3, "flow": 7}; !maps.Equal(sum.Events, want) {
		t.Errorf("events %v, want %v", sum.Events, want)
	}
	if a.Events["message"] != 2 {
		t.Errorf("the sum changed a part's map: %v", a.Events)
	}
}
