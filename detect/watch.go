package detect

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// DefaultWatchInterval is how often WatchAllowlist looks at the file.
const DefaultWatchInterval = 2 * time.Second

// WatchAllowlist watches the allowlist file at path until ctx is done. When
// its content changes it calls onChange with the new allowlist, or with an
// error if the file cannot be read or parsed (keep the old allowlist then;
// the error is reported once until the file changes again). Call it right
// after LoadAllowlist: the content at the first look is the baseline.
//
// It polls the content rather than using inotify so that editors that
// replace the file by rename and Kubernetes ConfigMap symlink swaps are
// seen the same way as in-place writes.
func WatchAllowlist(ctx context.Context, path string, onChange func(*Allowlist, error)) error {
	return newAllowlistWatcher(path).run(ctx, DefaultWatchInterval, onChange)
}

// allowlistWatcher holds the content last seen.
type allowlistWatcher struct {
	path    string
	last    [sha256.Size]byte
	readErr error
}

func newAllowlistWatcher(path string) *allowlistWatcher {
	w := &allowlistWatcher{path: path}
	w.last, w.readErr = fileDigest(path)
	return w
}

func (w *allowlistWatcher) run(ctx context.Context, every time.Duration, onChange func(*Allowlist, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		sum, err := fileDigest(w.path)
		if err != nil {
			if w.readErr == nil || w.readErr.Error() != err.Error() {
				onChange(nil, err)
			}
			w.readErr = err
			continue
		}
		w.readErr = nil
		if sum == w.last {
			continue // unchanged, or broken and already reported
		}
		w.last = sum
		onChange(LoadAllowlist(w.path))
	}
}

func fileDigest(path string) ([sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("watch allowlist: %w", err)
	}
	return sha256.Sum256(data), nil
}
