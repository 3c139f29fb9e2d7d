package capture

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// runFile runs a capture file through an Engine with cfg, to the end.
func runFile(t testing.TB, path string, cfg Config) (*recorder, Stats, error) {
	t.Helper()
	src, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec := newRecorder(t)
	e, err := NewEngine(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	runErr := e.Run(context.Background(), src)
	e.Finish()
	if len(rec.openResp) != 0 {
		t.Errorf("%d responses without ResponseEnd", len(rec.openResp))
	}
	return rec, e.Stats(), runErr
}

// canonicalJSON re-encodes a JSON value with sorted keys.
func canonicalJSON(t testing.TB, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// wireMessages lists the JSON-RPC messages the recorder reconstructed,
// "c2s "/"s2c " + canonical JSON, in order.
func wireMessages(t testing.TB, rec *recorder) []string {
	var out []string
	for _, r := range rec.reqs {
		if len(r.Body) > 0 {
			out = append(out, "c2s "+canonicalJSON(t, r.Body))
		}
	}
	for _, r := range rec.resps {
		if len(r.Body) > 0 {
			out = append(out, "s2c "+canonicalJSON(t, r.Body))
		}
	}
	for _, ev := range rec.events {
		if ev.Data != "" {
			out = append(out, "s2c "+canonicalJSON(t, []byte(ev.Data)))
		}
	}
	slices.Sort(out)
	return out
}

// sdkMessages reads what the SDK logged in a .sdk.jsonl file, in the form
// of wireMessages.
func sdkMessages(t testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m struct {
			Direction string          `json:"direction"`
			Raw       json.RawMessage `json:"raw"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Direction+" "+canonicalJSON(t, m.Raw))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestDemoPcapCarriesEverySDKMessage(t *testing.T) {
	rec, st, err := runFile(t, "../testdata/demo.pcap", Config{})
	if err != nil {
		t.Fatal(err)
	}
	got, want := wireMessages(t, rec), sdkMessages(t, "../testdata/demo.sdk.jsonl")
	if !slices.Equal(got, want) {
		t.Errorf("messages on the wire differ from the SDK's log\n got %d: %q\nwant %d: %q", len(got), got, len(want), want)
	}
	if st.Gaps != 0 || st.ParseErrors != 0 || st.UnmatchedResponses != 0 || st.Requests != st.Responses {
		t.Errorf("clean capture gave stats %+v", st)
	}
	var sse, json int
	for _, r := range rec.resps {
		if r.EventStream {
			sse++
		} else if len(r.Body) > 0 {
			json++
		}
	}
	if sse == 0 || json == 0 {
		t.Errorf("demo has %d SSE and %d JSON responses, want both kinds", sse, json)
	}
	t.Log(rec.log.String())
}
