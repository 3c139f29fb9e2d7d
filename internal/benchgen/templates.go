package benchgen

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Template is one recorded real conversation the generator replicates.
type Template struct {
	Name string
	// Weight is how often the template is picked relative to the others.
	Weight int
	Convs  []tcprec.Conversation
}

// SaveTemplates writes ts gzipped as JSON to path.
func SaveTemplates(path string, ts []Template) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	if err := json.NewEncoder(zw).Encode(ts); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadTemplates reads templates written by SaveTemplates.
func LoadTemplates(path string) ([]Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("templates: %w (record them with bench/gen -record)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("templates %s: %w", path, err)
	}
	var ts []Template
	if err := json.NewDecoder(zr).Decode(&ts); err != nil {
		return nil, fmt.Errorf("templates %s: %w", path, err)
	}
	return ts, nil
}
