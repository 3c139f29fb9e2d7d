package decode

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// go-sdk's auth middleware and PRM handler, a real OAuth client flow, and
// tokens for the wrong audience, without scope and right.
func TestGoSDKAuthScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &tcprec.Recorder{}
	log, err := scenario.RunAuth(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	logged, err := log.Messages()
	if err != nil {
		t.Fatal(err)
	}
	d, evs := collect(t, Config{})
	replay(t, rec.Recorded(), d)
	d.Finish(time.Now())
	// The SDK does not log a write the server refused; those attempts are
	// checked by status below.
	var accepted []*event.Event
	for _, e := range *evs {
		if e.HTTPStatus < 400 {
			accepted = append(accepted, e)
		}
	}
	assertMatchesSDK(t, accepted, logged)

	var got []string
	for _, e := range byKind(*evs, event.KindAuth) {
		got = append(got, fmt.Sprintf("%s status=%d rm=%s scope=%q err=%s prm=%s%v grant=%s resource=%s pkce=%s client=%s",
			e.AuthEvent, e.HTTPStatus, e.ResourceMetadata, e.Scope, e.Error, e.PRMResource, e.PRMAuthorizationServers,
			e.GrantType, e.Resource, e.PKCEMethod, e.ClientID))
	}
	challenge := "challenge status=401 rm=" + scenario.AuthPRM + ` scope="files:read" err= prm=[] grant= resource= pkce= client=`
	want := []string{
		challenge, // no token
		"prm status=200 rm= scope=\"files:read\" err= prm=" + scenario.AuthResource + "[" + scenario.AuthIssuer + "] grant= resource= pkce= client=",
		"as_metadata status=200 rm= scope=\"\" err= prm=[] grant= resource= pkce= client=",
		"registration status=201 rm= scope=\"\" err= prm=[] grant= resource= pkce= client=dyn-client-1",
		"authorization_request status=302 rm= scope=\"files:read\" err= prm=[] grant= resource=" + scenario.AuthResource + " pkce=S256 client=dyn-client-1",
		"token_request status=200 rm= scope=\"\" err= prm=[] grant=authorization_code resource=" + scenario.AuthResource + " pkce= client=dyn-client-1",
		challenge, // wrong audience
		"forbidden status=403 rm=" + scenario.AuthPRM + ` scope="files:read" err= prm=[] grant= resource= pkce= client=`, // no scope
	}
	if !slices.Equal(got, want) {
		t.Errorf("auth events\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}

	var statuses []int
	for _, e := range byKind(*evs, event.KindMessage) {
		if e.HTTPStatus >= 400 {
			statuses = append(statuses, e.HTTPStatus)
			continue
		}
		if e.AuthScheme != "bearer" || len(e.TokenID) != 32 || e.TokenIss != scenario.AuthIssuer ||
			!slices.Equal(e.TokenAud, []string{scenario.AuthResource}) || e.TokenScope != "files:read" ||
			e.TokenClientID != "dyn-client-1" || e.TokenExp == nil {
			t.Errorf("%s %s: credential %q %q %q %v %q %q %v", e.Direction, e.Method, e.AuthScheme, e.TokenID, e.TokenIss, e.TokenAud, e.TokenScope, e.TokenClientID, e.TokenExp)
		}
	}
	if !slices.Equal(statuses, []int{401, 401, 403}) {
		t.Errorf("rejected initialize attempts: statuses %v, want [401 401 403]", statuses)
	}
	for _, e := range *evs {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "eyJ") { // base64url of `{"`: a JWT part
			t.Errorf("%s event leaks a token: %s", e.Kind, b)
		}
	}
}
