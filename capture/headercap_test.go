package capture

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// echoBody answers with the request's body, as net/http servers do with
// the 1 MB of headers they accept by default.
var echoBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
})

// A tools/call with 200 KiB of headers — which Go's net/http serves — is
// parsed whole at the default cap, with its header size reported.
func TestLargeHeaderBlockParsed(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_files"}}`
	rec, st := recordHTTP(t, echoBody, false, Config{}, func(c *http.Client, url string) {
		req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(body))
		req.Header.Set("X-Padding", strings.Repeat("p", 200<<10))
		req.Header.Set("Content-Type", "application/json")
		mustDo(t, c, req)
	})
	if len(rec.reqs) != 1 || len(rec.resps) != 1 {
		t.Fatalf("%d requests, %d responses\n%s", len(rec.reqs), len(rec.resps), rec.log.String())
	}
	req := rec.reqs[0]
	if string(req.Body) != body || req.HeaderBytes < 200<<10 || req.HeaderCut || st.HeaderCapCuts != 0 || st.HeaderCapDrops != 0 {
		t.Errorf("request: body %q, header %d bytes, cut %v; stats cuts %d drops %d", req.Body, req.HeaderBytes, req.HeaderCut, st.HeaderCapCuts, st.HeaderCapDrops)
	}
}

// rawExchanges writes requests as raw bytes (field order of the sender's
// choosing, which Go's client does not give) to a real net/http server and
// reads its answers.
func rawExchanges(t *testing.T, reqs ...string) *tcprec.Recorder {
	t.Helper()
	srv := httptest.NewServer(echoBody)
	defer srv.Close()
	rec := &tcprec.Recorder{}
	dial := rec.DialContext(srv.Listener.Addr().String(), netip.MustParseAddr("10.0.1.20"), netip.MustParseAddrPort("10.0.0.7:8443"))
	c, err := dial(context.Background(), "tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, r := range reqs {
		if _, err := io.WriteString(c, r); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("server answered %d", resp.StatusCode)
		}
	}
	return rec
}

// A header block over MaxHeaderBytes whose framing and routing fields come
// after the padding is still parsed: the fields that frame and name the
// message are kept, the block is flagged cut with its full size, and the
// next request on the connection parses — however the bytes are segmented.
func TestOverCapHeaderBlockCut(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_files"}}`
	var pad strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 90))
	}
	pad.WriteString("X-Long: " + strings.Repeat("l", 20<<10) + "\r\n") // one line longer than maxSkipLine
	hidden := "POST /mcp HTTP/1.1\r\n" + pad.String() +
		"Host: files.corp.example:8443\r\nContent-Type: application/json\r\nMcp-Method: tools/call\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	plain := "POST /mcp HTTP/1.1\r\nHost: files.corp.example:8443\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	rec := rawExchanges(t, hidden, plain)
	headerLen := strings.Index(hidden, "\r\n\r\n") + 4
	for _, seg := range []int{1460, 60 << 10} {
		r, st, err := runFile(t, writeCapture(t, pcapsynth.Segment(pcapsynth.FromRecorded(rec.Recorded()), seg)), Config{MaxHeaderBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.reqs) != 2 || len(r.resps) != 2 {
			t.Fatalf("segments of %d: %d requests, %d responses\n%s", seg, len(r.reqs), len(r.resps), r.log.String())
		}
		req := r.reqs[0]
		if string(req.Body) != body || !req.HeaderCut || req.HeaderBytes != headerLen || req.Host != "files.corp.example:8443" ||
			req.Header.Get("Mcp-Method") != "tools/call" || req.Header.Get("X-Pad-0") == "" || req.Header.Get("X-Pad-2999") != "" || req.Header.Get("X-Long") != "" {
			t.Errorf("segments of %d: body %q cut %v header %d (want %d) host %q mcp-method %q", seg, req.Body, req.HeaderCut, req.HeaderBytes, headerLen, req.Host, req.Header.Get("Mcp-Method"))
		}
		if next := r.reqs[1]; string(next.Body) != body || next.HeaderCut {
			t.Errorf("segments of %d: the next request: %+v", seg, next)
		}
		if st.HeaderCapCuts != 1 || st.HeaderCapDrops != 0 || st.ParseErrors != 0 {
			t.Errorf("segments of %d: stats %+v", seg, st)
		}
	}
}

// A start line longer than the cap drops its message; the next parses.
func TestOverCapStartLineDropped(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	long := "POST /mcp?x=" + strings.Repeat("a", 2000) + " HTTP/1.1\r\nHost: h\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	plain := "POST /mcp HTTP/1.1\r\nHost: h\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	rec := rawExchanges(t, long, plain)
	r, st, err := runFile(t, writeCapture(t, pcapsynth.Segment(pcapsynth.FromRecorded(rec.Recorded()), 1460)), Config{MaxHeaderBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if st.HeaderCapDrops != 1 || len(r.reqs) != 1 || r.reqs[0].Target != "/mcp" {
		t.Errorf("drops %d, requests %d\n%s", st.HeaderCapDrops, len(r.reqs), r.log.String())
	}
}
