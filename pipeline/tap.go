package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/decode"
)

// tapInput is a proxy log read by capture/logtap: FORMAT:FILE, FILE "-"
// being standard input.
type tapInput struct {
	format logtap.Format
	path   string
}

// parseTap parses a --tap value, FORMAT:FILE.
func parseTap(spec string) (tapInput, error) {
	format, path, ok := strings.Cut(spec, ":")
	if !ok || path == "" {
		return tapInput{}, fmt.Errorf("--tap %q: want FORMAT:FILE with FORMAT one of %s", spec, formatList())
	}
	for _, f := range logtap.Formats() {
		if string(f) == format {
			return tapInput{format: f, path: path}, nil
		}
	}
	return tapInput{}, fmt.Errorf("--tap %q: unknown format %q, want one of %s", spec, format, formatList())
}

func formatList() string {
	var names []string
	for _, f := range logtap.Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// openTap checks the log can be read now, so a typo fails before any
// server starts; the reader opens it again itself.
func openTap(spec string, follow bool) (input, error) {
	tap, err := parseTap(spec)
	if err != nil {
		return input{}, err
	}
	if tap.path != "-" {
		f, err := os.Open(tap.path)
		if err != nil {
			return input{}, fmt.Errorf("open log tap: %w", err)
		}
		f.Close()
	} else if follow {
		return input{}, errors.New("--tap-follow needs files: standard input cannot be followed")
	}
	return input{name: "tap:" + string(tap.format) + ":" + filepath.Base(tap.path), tap: &tap}, nil
}

// senseTap feeds one proxy log to the decoder. Following a file, the
// checkpoint is written only after the bus acknowledged what was read, so a
// restart resumes without loss or duplicates.
func senseTap(ctx context.Context, cfg Config, in input, h capture.Handler, pub bus.Publisher) (logtap.Stats, error) {
	lcfg := cfg.Tap
	lcfg.Format = in.tap.format
	lcfg.OnBadRecord = func(br logtap.BadRecord) { cfg.Log.Warn("bad log record skipped", "at", br.String()) }
	switch {
	case in.tap.path == "-":
		r := logtap.NewReader(lcfg, "-", os.Stdin)
		err := r.Run(ctx, h)
		return r.Stats(), err
	case cfg.TapFollow:
		lcfg.Flush = pub.Flush
		if err := os.MkdirAll(cfg.TapCheckpointDir, 0o755); err != nil {
			return logtap.Stats{}, fmt.Errorf("checkpoint dir: %w", err)
		}
		abs, err := filepath.Abs(in.tap.path)
		if err != nil {
			return logtap.Stats{}, err
		}
		checkpoint := filepath.Join(cfg.TapCheckpointDir, strings.ReplaceAll(strings.Trim(abs, "/"), "/", "_")+".checkpoint")
		f := logtap.NewFollower(lcfg, in.tap.path, checkpoint)
		err = f.Run(ctx, h)
		return f.Stats(), err
	default:
		return logtap.ReadFiles(ctx, lcfg, []string{in.tap.path}, h)
	}
}

// tapClock advances the decoder's clock by log time, which every record
// carries, as the packet engine does by packet time: idle sessions end.
type tapClock struct {
	*decode.Decoder
	last time.Time
}

func (c *tapClock) Request(req *capture.Request) {
	if req.Time.Sub(c.last) >= time.Second {
		c.last = req.Time
		c.Decoder.Tick(req.Time)
	}
	c.Decoder.Request(req)
}
