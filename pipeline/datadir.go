package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A --data-dir holds, besides the embedded server's JetStream store:
//
//	mcpwatch.lock   flock(2)ed by the run that uses the directory; holds its pid
//	run.json        the current run's record (runRecord)
//	dedup/*.ids     per output, the ids written within the dedup epoch
//
// A dedup epoch lasts from a run that starts on a directory whose last run
// finished (or a fresh one) to the next run that finishes: a run killed
// before it delivered everything leaves its record unfinished, and the next
// run resumes the epoch. That run replays its input from the start (capture
// files) and every output skips what it already has, by event_id and
// alert_id, so the outputs of the two runs together hold every event and
// alert exactly once. Live input (an interface, a followed log) cannot be
// read again: what a killed live run stored but had not delivered is in
// the store, behind its durable consumers' ack floors, so the resuming run
// takes those consumers over instead of starting new ones.
const (
	lockFile = "mcpwatch.lock"
	runFile  = "run.json"
	dedupDir = "dedup"
)

// dataDir is a --data-dir held by this process.
type dataDir struct {
	path string
	lock *os.File
	// prev is the record of the previous run when it did not finish: this
	// run resumes its dedup epoch.
	prev *runRecord
	rec  runRecord
}

// runRecord is run.json.
type runRecord struct {
	RunID    string    `json:"run_id"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Finished bool      `json:"finished"`
	// Resumes counts the runs of the epoch before this one.
	Resumes int `json:"resumes"`
	// Live is set when the run reads live input, which a resumed run cannot
	// replay: it takes over the durable consumers named after Consumers.
	Live      bool   `json:"live,omitempty"`
	Consumers string `json:"consumers"`
	// JSONLOffsets is each JSONL file output's size when the epoch began:
	// what lies after it was written within the epoch.
	JSONLOffsets map[string]int64 `json:"jsonl_offsets,omitempty"`
}

// openDataDir creates and locks dir. A directory locked by another process
// fails at once, naming that process.
func openDataDir(dir string) (*dataDir, error) {
	if err := os.MkdirAll(filepath.Join(dir, dedupDir), 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	lockPath := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if data, rerr := os.ReadFile(lockPath); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil {
				holder = fmt.Sprintf("mcpwatch pid %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by %s (%s is locked); give each run its own --data-dir", dir, holder, lockPath)
		}
		return nil, fmt.Errorf("data dir %s: lock %s: %w", dir, lockPath, err)
	}
	// The lock is what counts; the pid is for the message above. A crash
	// leaves the file and its stale pid, and frees the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	d := &dataDir{path: dir, lock: f}
	data, err := os.ReadFile(filepath.Join(dir, runFile))
	switch {
	case err == nil:
		var prev runRecord
		if jerr := json.Unmarshal(data, &prev); jerr != nil {
			d.close()
			return nil, fmt.Errorf("data dir %s: %s: %w", dir, runFile, jerr)
		}
		if !prev.Finished {
			d.prev = &prev
		}
	case !os.IsNotExist(err):
		d.close()
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return d, nil
}

// begin records this run. When the previous run did not finish, the epoch
// and its JSONL offsets carry on, and so do its consumers when it read live
// input; otherwise a new epoch starts at the JSONL files' present sizes and
// the id journals are emptied.
func (d *dataDir) begin(runID string, live bool, jsonlFiles []string) error {
	d.rec = runRecord{RunID: runID, PID: os.Getpid(), Started: time.Now().UTC(), Live: live, Consumers: runID, JSONLOffsets: map[string]int64{}}
	if d.prev != nil && d.prev.Live && d.prev.Consumers != "" {
		d.rec.Consumers = d.prev.Consumers
		// Until its backlog is delivered, the run holds live input's events
		// that only the store has, whatever its own input.
		d.rec.Live = true
	}
	if d.prev != nil {
		d.rec.Resumes = d.prev.Resumes + 1
		for k, v := range d.prev.JSONLOffsets {
			d.rec.JSONLOffsets[k] = v
		}
	} else {
		journals, _ := filepath.Glob(filepath.Join(d.path, dedupDir, "*.ids"))
		for _, j := range journals {
			if err := os.Remove(j); err != nil {
				return fmt.Errorf("data dir: new dedup epoch: %w", err)
			}
		}
	}
	for _, p := range jsonlFiles {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, ok := d.rec.JSONLOffsets[abs]; ok {
			continue
		}
		var size int64
		if st, err := os.Stat(abs); err == nil {
			size = st.Size()
		}
		d.rec.JSONLOffsets[abs] = size
	}
	return d.write()
}

// finish marks the run as finished: everything it read was delivered.
func (d *dataDir) finish() error {
	d.rec.Finished = true
	return d.write()
}

func (d *dataDir) write() error {
	data, err := json.MarshalIndent(d.rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(d.path, runFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.path, runFile)); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// journal is the path of an output's id journal.
func (d *dataDir) journal(output string) string {
	return filepath.Join(d.path, dedupDir, output+".ids")
}

// jsonlOffset is where the epoch began in a JSONL file output.
func (d *dataDir) jsonlOffset(path string) int64 {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0
	}
	return d.rec.JSONLOffsets[abs]
}

func (d *dataDir) close() {
	if d.lock != nil {
		d.lock.Close() // releases the flock
		d.lock = nil
	}
}
