package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/filter/abi/abitest"
	"github.com/gatewarden/gatewarden/jwt"
)

const remoteConfig = `{"realm":"demo","cache":{"ttl":"2h"},"providers":[{"name":"sso","issuer":"` + testIssuer + `",
 "audiences":["` + testAudience + `"],"discovery":true,"upstream":"idp","pause_timeout":"2s",
 "kid_refetch_cooldown":"30s","refresh_interval":"5m","stale_max_age":"1h"}]}`

var ok200 = []abi.Header{{Key: ":status", Value: "200"}, {Key: "content-type", Value: "application/json"}}

func jwksOf(t *testing.T, keys ...jwt.SigningKey) []byte {
	t.Helper()
	b, err := jwt.JWKS(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func discoveryDoc() []byte {
	return []byte(`{"issuer":"` + testIssuer + `","jwks_uri":"https://sso.example.com/realms/demo/protocol/openid-connect/certs"}`)
}

// startRemote starts a VM whose provider uses discovery through upstream "idp".
func startRemote(t *testing.T, store *abitest.SharedStore) *abitest.Host {
	t.Helper()
	h := abitest.New(newPlugin)
	if store != nil {
		h.Shared = store
	}
	h.Upstreams["idp"] = true
	h.PluginConfig = []byte(remoteConfig)
	if !h.Start() {
		t.Fatalf("plugin refused its configuration; logs: %v", h.Logs)
	}
	return h
}

// pending returns the only unanswered call, failing the test unless there is exactly one.
func pending(t *testing.T, h *abitest.Host) *abitest.Call {
	t.Helper()
	calls := h.PendingCalls()
	if len(calls) != 1 {
		t.Fatalf("%d pending calls, want 1", len(calls))
	}
	return calls[0]
}

// serveKeys answers discovery and then the JWKS fetch with keys.
func serveKeys(t *testing.T, h *abitest.Host, keys ...jwt.SigningKey) {
	t.Helper()
	c := pending(t, h)
	if c.Header(":path") == "/realms/demo/.well-known/openid-configuration" {
		if err := h.Respond(c.ID, ok200, discoveryDoc()); err != nil {
			t.Fatal(err)
		}
		c = pending(t, h)
	}
	if got := c.Header(":path"); got != "/realms/demo/protocol/openid-connect/certs" {
		t.Fatalf("JWKS fetched from %q", got)
	}
	if err := h.Respond(c.ID, ok200, jwksOf(t, keys...)); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryThenPausedRequestsServed(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	c := pending(t, h)
	if c.Upstream != "idp" || c.Header(":authority") != "sso.example.com" || c.Header(":method") != "GET" ||
		c.Header(":path") != "/realms/demo/.well-known/openid-configuration" {
		t.Fatalf("discovery call = %+v", c)
	}
	s := h.Request("GET", "/orders", bearer(sign(t, k.rsa, claims(h.Clock, nil))))
	if !s.Paused || s.Local != nil {
		t.Fatalf("request before the first JWKS was not paused: local=%+v", s.Local)
	}
	serveKeys(t, h, k.rsa, k.ec)
	if s.Paused || !s.Forwarded || s.Local != nil {
		t.Fatalf("paused request not resumed: paused=%v forwarded=%v local=%+v", s.Paused, s.Forwarded, s.Local)
	}
	if got := s.RequestHeader("x-client-id"); got != "web-app" {
		t.Fatalf("resumed request lacks x-client-id: %q", got)
	}
	if m := h.Metric("gatewarden_jwks_fetch_ok"); m == nil || m.Value != 1 {
		t.Fatalf("jwks_fetch_ok metric = %+v", m)
	}
}

func TestPausedRequestTimesOut(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil))))
	if !s.Paused {
		t.Fatal("not paused")
	}
	h.Clock = h.Clock.Add(time.Second)
	h.Tick()
	if !s.Paused {
		t.Fatal("gave up before pause_timeout")
	}
	h.Clock = h.Clock.Add(2 * time.Second)
	h.Tick()
	if s.Local == nil || s.Local.Status != 503 || !strings.Contains(string(s.Local.Body), "jwks_unavailable") {
		t.Fatalf("after pause_timeout: %+v", s.Local)
	}
}

func TestFailedFetchesBackOffAndRecover(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	c := pending(t, h)
	if err := h.Respond(c.ID, nil, nil); err != nil { // connection failure
		t.Fatal(err)
	}
	if len(h.PendingCalls()) != 0 {
		t.Fatal("retried at once instead of backing off")
	}
	h.Clock = h.Clock.Add(1100 * time.Millisecond)
	h.Tick()
	c = pending(t, h)
	if err := h.Respond(c.ID, []abi.Header{{Key: ":status", Value: "503"}}, []byte("down")); err != nil {
		t.Fatal(err)
	}
	h.Clock = h.Clock.Add(1100 * time.Millisecond)
	h.Tick()
	if len(h.PendingCalls()) != 0 {
		t.Fatal("second backoff should be 2s")
	}
	h.Clock = h.Clock.Add(time.Second)
	h.Tick()
	serveKeys(t, h, k.rsa)
	if s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil)))); !s.Forwarded {
		t.Fatalf("after recovery: %+v", s.Local)
	}
	if m := h.Metric("gatewarden_jwks_fetch_failed"); m == nil || m.Value != 2 {
		t.Fatalf("jwks_fetch_failed = %+v", m)
	}
}

func TestGarbageAndHostileKeyServers(t *testing.T) {
	k := testKeys()
	tests := []struct {
		name    string
		status  string
		body    string
		discov  bool // answer discovery with body instead of the JWKS
		wantErr bool
	}{
		{name: "not json", status: "200", body: "<html>oops</html>", wantErr: true},
		{name: "empty keys", status: "200", body: `{"keys":[]}`, wantErr: true},
		{name: "only enc key", status: "200", body: `{"keys":[{"kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}]}`, wantErr: true},
		{name: "huge", status: "200", body: `{"keys":[` + strings.Repeat(" ", maxJWKSBytes+1) + `]}`, wantErr: true},
		{name: "404", status: "404", body: `{}`, wantErr: true},
		{name: "discovery of another issuer", discov: true, status: "200", body: `{"issuer":"https://evil.example.com","jwks_uri":"https://evil.example.com/certs"}`, wantErr: true},
		{name: "discovery without jwks_uri", discov: true, status: "200", body: `{"issuer":"` + testIssuer + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startRemote(t, nil)
			c := pending(t, h)
			if !tt.discov {
				if err := h.Respond(c.ID, ok200, discoveryDoc()); err != nil {
					t.Fatal(err)
				}
				c = pending(t, h)
			}
			if err := h.Respond(c.ID, []abi.Header{{Key: ":status", Value: tt.status}}, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil))))
			if !s.Paused {
				t.Fatalf("with no usable keys the request must wait, then fail: %+v", s.Local)
			}
			h.Clock = h.Clock.Add(3 * time.Second)
			h.Tick()
			if s.Local == nil || s.Local.Status != 503 {
				t.Fatalf("want 503 once the pause times out, got %+v", s.Local)
			}
			if m := h.Metric("gatewarden_jwks_fetch_failed"); m == nil || m.Value < 1 {
				t.Fatal("failure not counted")
			}
		})
	}
}

func TestKeycloakShapedJWKS(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	c := pending(t, h)
	_ = h.Respond(c.ID, ok200, discoveryDoc())
	c = pending(t, h)
	// Keycloak publishes its RSA-OAEP encryption key next to the signing key.
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwksOf(t, k.rsa), &doc); err != nil {
		t.Fatal(err)
	}
	enc := map[string]any{}
	for key, v := range doc.Keys[0] {
		enc[key] = v
	}
	enc["kid"], enc["use"], enc["alg"] = "enc-key", "enc", "RSA-OAEP"
	doc.Keys = append([]map[string]any{enc}, doc.Keys...)
	body, _ := json.Marshal(doc)
	if err := h.Respond(c.ID, ok200, body); err != nil {
		t.Fatal(err)
	}
	if s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil)))); !s.Forwarded {
		t.Fatalf("token rejected with a Keycloak-shaped JWKS: %+v", s.Local)
	}
}

func TestRotationOnUnknownKidAndFloodCooldown(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	serveKeys(t, h, k.rsa)
	rotated := jwt.SigningKey{Alg: "RS256", KeyID: "rsa-2", Key: k.other.Key}
	tok := sign(t, rotated, claims(h.Clock, nil))

	// Within the cool-down of the start-up fetch: no refetch, 401.
	if s := h.Request("GET", "/", bearer(tok)); s.Local == nil || s.Local.Status != 401 {
		t.Fatalf("unknown kid inside the cool-down: %+v", s.Local)
	}
	if len(h.PendingCalls()) != 0 {
		t.Fatal("refetched inside the cool-down")
	}

	h.Clock = h.Clock.Add(31 * time.Second)
	s := h.Request("GET", "/", bearer(sign(t, rotated, claims(h.Clock, nil))))
	if !s.Paused {
		t.Fatalf("unknown kid after the cool-down should pause for a refetch: %+v", s.Local)
	}
	// A flood of random kids while the refetch is in flight joins it instead of fetching again.
	var flood []*abitest.Stream
	for i := 0; i < 50; i++ {
		kid := jwt.SigningKey{Alg: "RS256", KeyID: fmt.Sprintf("random-%d", i), Key: k.other.Key}
		flood = append(flood, h.Request("GET", "/", bearer(sign(t, kid, claims(h.Clock, nil)))))
	}
	if n := len(h.PendingCalls()); n != 1 {
		t.Fatalf("%d fetches in flight for a flood of kids, want 1", n)
	}
	serveKeys(t, h, k.rsa, rotated)
	if !s.Forwarded {
		t.Fatalf("rotated key not picked up: %+v", s.Local)
	}
	for _, f := range flood {
		if f.Local == nil || f.Local.Status != 401 {
			t.Fatalf("random kid not refused after the refetch: %+v", f.Local)
		}
	}
	// And right after, more random kids cause no fetch at all.
	for i := 0; i < 50; i++ {
		kid := jwt.SigningKey{Alg: "RS256", KeyID: fmt.Sprintf("again-%d", i), Key: k.other.Key}
		if f := h.Request("GET", "/", bearer(sign(t, kid, claims(h.Clock, nil)))); f.Local == nil || f.Local.Status != 401 {
			t.Fatalf("random kid: %+v", f.Local)
		}
	}
	if n := len(h.PendingCalls()); n != 0 {
		t.Fatalf("%d fetches for random kids inside the cool-down", n)
	}
}

func TestStaleIfErrorThenFailClosed(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	serveKeys(t, h, k.rsa)
	fail := func() {
		for _, c := range h.PendingCalls() {
			_ = h.Respond(c.ID, nil, nil)
		}
	}
	// Past the refresh interval the refresh fails: the last good keys still verify.
	h.Clock = h.Clock.Add(6 * time.Minute)
	h.Tick()
	if len(h.PendingCalls()) != 1 {
		t.Fatal("no refresh after refresh_interval")
	}
	fail()
	if s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil)))); !s.Forwarded {
		t.Fatalf("stale keys not used during an outage: %+v", s.Local)
	}
	// A token verified (and cached) now must not outlive the keys' trust either.
	cachedTok := sign(t, k.rsa, claims(h.Clock, func(c map[string]any) { c["exp"] = h.Clock.Add(3 * time.Hour).Unix() }))
	if s := h.Request("GET", "/", bearer(cachedTok)); !s.Forwarded {
		t.Fatalf("fresh token refused: %+v", s.Local)
	}
	// Past stale_max_age with every refresh failing: fail closed.
	for i := 0; i < 70; i++ {
		h.Clock = h.Clock.Add(time.Minute)
		h.Tick()
		fail()
	}
	s := h.Request("GET", "/", bearer(sign(t, k.rsa, claims(h.Clock, nil))))
	h.Clock = h.Clock.Add(3 * time.Second)
	h.Tick()
	fail()
	if s.Local == nil || s.Local.Status != 503 {
		t.Fatalf("keys older than stale_max_age still trusted: %+v", s.Local)
	}
	s = h.Request("GET", "/", bearer(cachedTok))
	h.Clock = h.Clock.Add(3 * time.Second)
	h.Tick()
	fail()
	if s.Local == nil || s.Local.Status != 503 {
		t.Fatalf("a cached verification outlived stale_max_age: %+v", s.Local)
	}
}

func TestVMsShareOneFetch(t *testing.T) {
	k := testKeys()
	store := abitest.NewSharedStore()
	a := startRemote(t, store)
	b := startRemote(t, store)
	if len(a.PendingCalls()) != 1 || len(b.PendingCalls()) != 0 {
		t.Fatalf("calls: VM a %d, VM b %d; want exactly one fetch", len(a.PendingCalls()), len(b.PendingCalls()))
	}
	sb := b.Request("GET", "/", bearer(sign(t, k.rsa, claims(b.Clock, nil))))
	if !sb.Paused {
		t.Fatal("VM b did not wait for keys")
	}
	serveKeys(t, a, k.rsa)
	b.Clock = b.Clock.Add(200 * time.Millisecond)
	b.Tick()
	if !sb.Forwarded {
		t.Fatalf("VM b did not pick up the keys VM a fetched: %+v", sb.Local)
	}
	if len(b.Calls) != 0 {
		t.Fatal("VM b fetched too")
	}
}

func TestRefetchOnAnotherVMIsAwaited(t *testing.T) {
	k := testKeys()
	store := abitest.NewSharedStore()
	a := startRemote(t, store)
	b := startRemote(t, store)
	serveKeys(t, a, k.rsa)
	b.Tick()
	rotated := jwt.SigningKey{Alg: "RS256", KeyID: "rsa-2", Key: k.other.Key}
	a.Clock = a.Clock.Add(31 * time.Second)
	b.Clock = a.Clock
	sa := a.Request("GET", "/", bearer(sign(t, rotated, claims(a.Clock, nil))))
	sb := b.Request("GET", "/", bearer(sign(t, rotated, claims(b.Clock, nil))))
	if !sa.Paused || !sb.Paused {
		t.Fatalf("both VMs should wait for the one refetch: a=%+v b=%+v", sa.Local, sb.Local)
	}
	b.Clock = b.Clock.Add(100 * time.Millisecond)
	b.Tick()
	if !sb.Paused {
		t.Fatalf("VM b gave up while VM a was still fetching: %+v", sb.Local)
	}
	if len(b.Calls) != 0 {
		t.Fatal("VM b fetched too")
	}
	serveKeys(t, a, k.rsa, rotated)
	b.Clock = b.Clock.Add(100 * time.Millisecond)
	b.Tick()
	if !sa.Forwarded || !sb.Forwarded {
		t.Fatalf("rotated key: a=%+v b=%+v", sa.Local, sb.Local)
	}
}

// A key rotation fetched by one VM reaches the others at once, even inside the cool-down the
// fetch started (found by the e2e rotation test: VM b kept answering unknown_key).
func TestRotationFetchedElsewhereIsAdopted(t *testing.T) {
	k := testKeys()
	store := abitest.NewSharedStore()
	a := startRemote(t, store)
	b := startRemote(t, store)
	serveKeys(t, a, k.rsa)
	b.Tick()
	rotated := jwt.SigningKey{Alg: "RS256", KeyID: "rsa-2", Key: k.other.Key}
	a.Clock = a.Clock.Add(31 * time.Second)
	b.Clock = a.Clock
	sa := a.Request("GET", "/", bearer(sign(t, rotated, claims(a.Clock, nil))))
	serveKeys(t, a, k.rsa, rotated)
	if !sa.Forwarded {
		t.Fatalf("VM a: %+v", sa.Local)
	}
	// VM b has not ticked since; the cool-down of a's refetch is running.
	sb := b.Request("GET", "/", bearer(sign(t, rotated, claims(b.Clock, nil))))
	if !sb.Forwarded {
		t.Fatalf("VM b refused a key VM a already fetched: %+v", sb.Local)
	}
}

// TestGonePausedRequestIsForgottenAndReused: a paused request whose client went away is
// dropped from the waiters by proxy_on_delete alone (the filter exports no proxy_on_done), its
// stream is reused by the next request, and only that request is resumed when keys arrive.
func TestGonePausedRequestIsForgottenAndReused(t *testing.T) {
	k := testKeys()
	h := startRemote(t, nil)
	gone := h.Request("GET", "/orders", bearer(sign(t, k.rsa, claims(h.Clock, func(c map[string]any) { c["sub"] = "gone-user" }))))
	if !gone.Paused {
		t.Fatal("first request not paused")
	}
	gone.FinishWithoutDone()
	next := h.Request("GET", "/orders", bearer(sign(t, k.rsa, claims(h.Clock, nil))))
	if !next.Paused {
		t.Fatal("second request not paused")
	}
	serveKeys(t, h, k.rsa, k.ec)
	if gone.Forwarded || gone.Local != nil {
		t.Fatalf("a request that went away was answered: forwarded=%v local=%+v", gone.Forwarded, gone.Local)
	}
	if !next.Forwarded || next.RequestHeader("x-user-id") == "gone-user" || next.RequestHeader("x-user-id") == "" {
		t.Fatalf("resumed request: forwarded=%v x-user-id=%q", next.Forwarded, next.RequestHeader("x-user-id"))
	}
	if m := h.Metric("gatewarden_allowed"); m == nil || m.Value != 1 {
		t.Fatalf("gatewarden_allowed = %+v, want one decision (the gone request must not be resumed)", m)
	}
	next.Finish()
	if n := h.VM().Streams(); n != 0 {
		t.Fatalf("%d streams left", n)
	}
}
