package scenario

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// WriteCapture writes what rec recorded as a pcap file.
func WriteCapture(path string, rec *tcprec.Recorder) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rec.WriteTo(f, tcprec.Pcap); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// WriteLog writes the messages of logs as JSON lines (LoggedMessage), the
// .sdk.jsonl ground truth next to a capture.
func WriteLog(path string, logs []*Log) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, l := range logs {
		msgs, err := l.Messages()
		if err != nil {
			f.Close()
			return err
		}
		for _, m := range msgs {
			if err := enc.Encode(m); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
	}
	return f.Close()
}
