package report

import (
	"fmt"
	"time"
)

// Charts are inline SVG drawn here: stacked bars, one per time bucket.

const (
	chartWidth  = 960
	chartHeight = 160
)

var seriesColors = map[string]string{
	"low": "#8ab8ff", "medium": "#ffb357", "high": "#ff7043", "critical": "#c62828",
	"challenge": "#ffb357", "forbidden": "#ff7043", "insufficient_scope": "#c62828",
}

// Bar is one bucket of a chart.
type Bar struct {
	X, Width float64
	Title    string
	Segments []Segment
}

// Segment is one series of a bar.
type Segment struct {
	Y, Height float64
	Series    string
	Count     int64
}

// bars lays out t's buckets over the chart's width, their height relative
// to the highest bucket.
func bars(t Timeline) []Bar {
	if len(t.Counts) == 0 {
		return nil
	}
	var highest int64
	for _, row := range t.Counts {
		var sum int64
		for _, n := range row {
			sum += n
		}
		highest = max(highest, sum)
	}
	width := float64(chartWidth) / float64(len(t.Counts))
	out := make([]Bar, 0, len(t.Counts))
	for i, row := range t.Counts {
		start := t.Start.Add(time.Duration(i) * t.Bucket)
		bar := Bar{X: float64(i) * width, Width: max(width-1, 1), Title: start.Format("2006-01-02 15:04Z")}
		y := float64(chartHeight)
		for j, n := range row {
			if n == 0 {
				continue
			}
			h := float64(n) / float64(highest) * chartHeight
			y -= h
			bar.Segments = append(bar.Segments, Segment{Y: y, Height: h, Series: t.Series[j], Count: n})
			bar.Title += fmt.Sprintf(" %s %d", t.Series[j], n)
		}
		out = append(out, bar)
	}
	return out
}
