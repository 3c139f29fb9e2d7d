package capture

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// recordHTTP serves handler (over TLS when tlsOn), runs do against it with
// a client whose connections are recorded, and returns what an Engine with
// cfg makes of the capture.
func recordHTTP(t *testing.T, handler http.Handler, tlsOn bool, cfg Config, do func(c *http.Client, url string)) (*recorder, Stats) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	if tlsOn {
		srv.StartTLS() // HTTP/1.1 only: the client below offers h2 but cannot speak it
	} else {
		srv.Start()
	}
	defer srv.Close()
	rec := &tcprec.Recorder{}
	tr := &http.Transport{
		DialContext:           rec.DialContext(srv.Listener.Addr().String(), netip.MustParseAddr("10.0.1.20"), netip.MustParseAddrPort("10.0.0.7:8443")),
		ExpectContinueTimeout: 5 * time.Second,
	}
	if tlsOn {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: "mcp.corp.example", NextProtos: []string{"h2", "http/1.1"}}
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := tr.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, tr.TLSClientConfig)
			return tc, tc.HandshakeContext(ctx)
		}
	}
	client := &http.Client{Transport: tr}
	do(client, "http://10.0.0.7:8443")
	tr.CloseIdleConnections()
	r, st, err := runFile(t, writeCapture(t, pcapsynth.Segment(pcapsynth.FromRecorded(rec.Recorded()), 1460)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

func mustDo(t *testing.T, c *http.Client, req *http.Request) []byte {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExpectContinue(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	body := strings.Repeat(`{"jsonrpc":"2.0","method":"ping","id":1}`, 10)
	rec, st := recordHTTP(t, echo, false, Config{}, func(c *http.Client, url string) {
		req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		mustDo(t, c, req)
	})
	if st.InterimResponses != 1 || len(rec.reqs) != 1 || len(rec.resps) != 1 {
		t.Fatalf("100-continue exchange: %d interim, %d requests, %d responses", st.InterimResponses, len(rec.reqs), len(rec.resps))
	}
	if string(rec.reqs[0].Body) != body || string(rec.resps[0].Body) != body || rec.resps[0].StatusCode != 200 {
		t.Errorf("request body %q, response %d %q\n%s", rec.reqs[0].Body, rec.resps[0].StatusCode, rec.resps[0].Body, rec.log.String())
	}
}

// hijack answers with raw bytes and closes the connection, as a server
// outside net/http would.
func hijack(raw string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		c.Close()
	})
}

func TestCloseDelimitedBody(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"result":{}}`
	rec, _ := recordHTTP(t, hijack("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"+body), false, Config{}, func(c *http.Client, url string) {
		req, _ := http.NewRequest("GET", url+"/mcp", nil)
		mustDo(t, c, req)
	})
	if len(rec.resps) != 1 || string(rec.resps[0].Body) != body || rec.resps[0].Truncated || rec.resps[0].Proto != "HTTP/1.0" {
		t.Fatalf("close-delimited response: %+v", rec.resps)
	}
	if rec.ends[0].Reason != ConnEndFIN {
		t.Errorf("connection end %q, want fin", rec.ends[0].Reason)
	}
}

func TestWebSocketUpgradeStopsParsing(t *testing.T) {
	rec, st := recordHTTP(t, hijack("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"), false, Config{}, func(c *http.Client, url string) {
		req, _ := http.NewRequest("GET", url+"/mcp", nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	if st.Upgrades != 1 || rec.ends[0].Upgrade != "websocket" || st.ParseErrors != 0 {
		t.Fatalf("upgrade: %d upgrades, ConnEnd %+v, %d parse errors", st.Upgrades, rec.ends[0], st.ParseErrors)
	}
}

func TestBodyAndHeaderCaps(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100_000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big-header" {
			w.Header().Set("X-Padding", strings.Repeat("p", 2000))
		}
		w.Write(big)
	})
	rec, st := recordHTTP(t, h, false, Config{MaxBodyBytes: 1000, MaxHeaderBytes: 1024}, func(c *http.Client, url string) {
		for _, p := range []string{"/big-body", "/big-header", "/big-body"} {
			req, _ := http.NewRequest("GET", url+p, nil)
			mustDo(t, c, req)
		}
	})
	if st.HeaderCapCuts != 1 || st.HeaderCapDrops != 0 || st.Truncations.BodyCap != 3 {
		t.Fatalf("caps: %d header cuts, %d drops, %d body-cap truncations", st.HeaderCapCuts, st.HeaderCapDrops, st.Truncations.BodyCap)
	}
	for _, r := range rec.resps {
		if len(r.Body) != 1000 || r.BodyLen != int64(len(big)) || r.TruncatedBy != TruncBodyCap {
			t.Errorf("response %d: body %d, BodyLen %d, truncated by %q", r.Seq, len(r.Body), r.BodyLen, r.TruncatedBy)
		}
	}
	// The response with the long block is parsed from its first
	// MaxHeaderBytes and framing fields, flagged cut.
	if n := len(rec.resps); n != 3 || !rec.resps[1].HeaderCut || rec.resps[1].HeaderBytes < 2000 || rec.resps[2].Seq != 2 {
		t.Errorf("responses: %d", n)
	}
}

func TestTLSClientHello(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	rec, st := recordHTTP(t, h, true, Config{}, func(c *http.Client, url string) {
		req, _ := http.NewRequest("GET", strings.Replace(url, "http:", "https:", 1)+"/mcp", nil)
		mustDo(t, c, req)
	})
	if len(rec.ends) != 1 {
		t.Fatalf("%d connections", len(rec.ends))
	}
	end := rec.ends[0]
	if end.AppProtocol != AppTLS || end.TLSSNI != "mcp.corp.example" || strings.Join(end.TLSALPN, ",") != "h2,http/1.1" {
		t.Errorf("ConnEnd %+v", end)
	}
	if st.Requests != 0 || st.ParseErrors != 0 || st.TLSHelloErrors != 0 {
		t.Errorf("TLS connection parsed as HTTP: %+v", st)
	}
	if end.BytesC2S == 0 || end.BytesS2C == 0 {
		t.Errorf("bytes per direction not counted: %+v", end)
	}
}

// TestBodilessResponses: a HEAD response announces a Content-Length it
// does not send, 204 and 304 have no body; the exchanges after them must
// still parse.
func TestBodilessResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		case "/cached":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "42")
			w.Write([]byte(strings.Repeat("b", 42)))
		}
	})
	rec, st := recordHTTP(t, h, false, Config{}, func(c *http.Client, url string) {
		for _, r := range []struct{ method, path string }{{"HEAD", "/mcp"}, {"GET", "/none"}, {"GET", "/cached"}, {"GET", "/mcp"}} {
			req, _ := http.NewRequest(r.method, url+r.path, nil)
			mustDo(t, c, req)
		}
	})
	var got []string
	for _, r := range rec.resps {
		got = append(got, fmt.Sprintf("%d:%d", r.StatusCode, len(r.Body)))
	}
	if strings.Join(got, " ") != "200:0 204:0 304:0 200:42" || st.ParseErrors != 0 || st.UnmatchedResponses != 0 {
		t.Errorf("responses %v, stats %+v", got, st)
	}
}

// TestEarlyFinalResponse: a server that refuses an upload answers before
// the request body is over; the request is reported (truncated) before its
// response, and matched to it.
func TestEarlyFinalResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	rec, _ := recordHTTP(t, h, false, Config{}, func(c *http.Client, url string) {
		// A body the server never reads: the client stops sending it only
		// once it has the server's answer.
		pr, pw := io.Pipe()
		answered := make(chan struct{})
		go func() {
			pw.Write([]byte(strings.Repeat("x", 1000)))
			<-answered
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/upload", pr)
		req.ContentLength = 1 << 20
		resp, err := c.Do(req)
		close(answered)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	if len(rec.reqs) != 1 || len(rec.resps) != 1 {
		t.Fatalf("%d requests, %d responses\n%s", len(rec.reqs), len(rec.resps), rec.log.String())
	}
	if r := rec.reqs[0]; !r.Truncated || rec.resps[0].StatusCode != 413 || rec.resps[0].Seq != r.Seq {
		t.Errorf("request %+v, response %d", r, rec.resps[0].StatusCode)
	}
}
