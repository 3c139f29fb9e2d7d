//go:build linux

package capture

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// After DropCaptureCapabilities no thread of the process holds CAP_NET_RAW
// in its effective, permitted or bounding set, no_new_privs is set, a new
// capture cannot be opened — and the one opened before still reads
// packets. It runs in a child process: the drop cannot be undone.
func TestDropCaptureCapabilities(t *testing.T) {
	if os.Getenv("MCPWATCH_TEST_CAPS_CHILD") == "1" {
		dropCapsChild(t)
		return
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("live capture needs root (CAP_NET_RAW); CI must run this test as root")
		}
		t.Skip("live capture needs root (CAP_NET_RAW)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropCaptureCapabilities$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "MCPWATCH_TEST_CAPS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "capabilities dropped on") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func dropCapsChild(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	opts := LiveOptions{RingSize: 2 << 20, PollTimeout: 20 * time.Millisecond, Ports: []uint16{port}}
	if !threadsHold(t, "CapEff") {
		t.Fatal("CAP_NET_RAW not effective before the drop")
	}
	src, err := OpenLive("lo", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := DropCaptureCapabilities(); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if threadsHold(t, set) {
			t.Errorf("a thread still has CAP_NET_RAW in %s", set)
		}
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, p := range tasks {
		if v := statusField(t, p, "NoNewPrivs"); v != "1" {
			t.Errorf("%s: NoNewPrivs %q", p, v)
		}
	}
	if again, err := OpenLive("lo", opts); err == nil {
		again.Close()
		t.Error("a new live capture opened after the drop")
	} else if !errors.Is(err, os.ErrPermission) && !strings.Contains(err.Error(), "operation not permitted") {
		t.Errorf("second capture failed otherwise: %v", err)
	}
	// The capture opened before keeps reading.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
		pkt, err := src.ReadPacket()
		if err == nil && len(pkt.Data) > 0 {
			t.Logf("capabilities dropped on %d threads; the open capture still reads packets", len(tasks))
			return
		}
		if err != nil && !errors.Is(err, ErrNoPacket) {
			t.Fatal(err)
		}
	}
	t.Fatal("the open capture read no packet after the drop")
}

// threadsHold reports whether any thread of the process has CAP_NET_RAW
// in the given set of /proc/self/task/*/status.
func threadsHold(t *testing.T, set string) bool {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads: %v", err)
	}
	for _, p := range tasks {
		v, err := strconv.ParseUint(statusField(t, p, set), 16, 64)
		if err != nil {
			t.Fatalf("%s %s: %v", p, set, err)
		}
		if v&(1<<13) != 0 { // CAP_NET_RAW
			return true
		}
	}
	return false
}

func statusField(t *testing.T, path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
