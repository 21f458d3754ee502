package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/filter/abi/abitest"
	"github.com/gatewarden/gatewarden/jwt"
)

const (
	testIssuer   = "https://sso.example.com/realms/demo"
	testAudience = "orders-api"
)

// testKeys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() struct{ rsa, ec, other jwt.SigningKey } {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	ok, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return struct{ rsa, ec, other jwt.SigningKey }{
		rsa:   jwt.SigningKey{Alg: "RS256", KeyID: "rsa-1", Key: rk},
		ec:    jwt.SigningKey{Alg: "ES256", KeyID: "ec-1", Key: ek},
		other: jwt.SigningKey{Alg: "RS256", KeyID: "rsa-1", Key: ok}, // same kid, wrong key
	}
})

func testJWKS(t *testing.T) string {
	t.Helper()
	k := testKeys()
	b, err := jwt.JWKS(k.rsa, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testConfig(t *testing.T) []byte {
	t.Helper()
	return []byte(`{"realm":"demo","providers":[{"name":"sso","issuer":"` + testIssuer +
		`","audiences":["` + testAudience + `"],"algorithms":["RS256","ES256"],"clock_skew":"30s","jwks":` + testJWKS(t) + `}]}`)
}

// claims returns valid Keycloak-shaped access token claims at now, changed by edit.
func claims(now time.Time, edit func(map[string]any)) []byte {
	c := map[string]any{
		"iss": testIssuer, "sub": "user-123", "aud": []string{testAudience, "account"},
		"azp": "web-app", "typ": "Bearer", "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "scope": "openid profile",
		"realm_access": map[string]any{"roles": []string{"user"}},
	}
	if edit != nil {
		edit(c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

func sign(t *testing.T, key jwt.SigningKey, payload []byte) string {
	t.Helper()
	tok, err := jwt.Sign(key, payload, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startHost(t *testing.T, cfg []byte) *abitest.Host {
	t.Helper()
	h := abitest.New(newPlugin)
	h.PluginConfig = cfg
	if !h.Start() {
		t.Fatalf("plugin refused its configuration; logs: %v", h.Logs)
	}
	return h
}

func bearer(tok string) abi.Header { return abi.Header{Key: "authorization", Value: "Bearer " + tok} }

func TestRequestDecisions(t *testing.T) {
	k := testKeys()
	h := startHost(t, testConfig(t))
	now := h.Clock
	b64 := base64.RawURLEncoding.EncodeToString
	noneToken := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(claims(now, nil)) + "."
	tests := []struct {
		name      string
		headers   []abi.Header
		status    int    // 0: forwarded
		challenge string // expected WWW-Authenticate for 401s
		reason    string
	}{
		{name: "valid RS256", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, nil)))}},
		{name: "valid ES256", headers: []abi.Header{bearer(sign(t, k.ec, claims(now, nil)))}},
		{name: "lower-case scheme", headers: []abi.Header{{Key: "authorization", Value: "bearer " + sign(t, k.rsa, claims(now, nil))}}},
		{name: "missing", status: 401, challenge: `Bearer realm="demo"`, reason: "missing_token"},
		{name: "basic scheme counts as missing", headers: []abi.Header{{Key: "authorization", Value: "Basic dXNlcjpwdw=="}},
			status: 401, challenge: `Bearer realm="demo"`, reason: "missing_token"},
		{name: "empty bearer", headers: []abi.Header{{Key: "authorization", Value: "Bearer "}}, status: 401},
		{name: "garbage", headers: []abi.Header{bearer("not.a.jwt")}, status: 401},
		{name: "bad signature", headers: []abi.Header{bearer(sign(t, k.other, claims(now, nil)))}, status: 401},
		{name: "wrong issuer", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["iss"] = "https://evil.example.com" })))}, status: 401},
		{name: "wrong audience", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["aud"] = "other-api" })))}, status: 401},
		{name: "expired", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })))}, status: 401},
		{name: "expired within skew passes", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() })))}},
		{name: "nbf in the future", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })))}, status: 401},
		{name: "refresh token", headers: []abi.Header{bearer(sign(t, k.rsa, claims(now, func(c map[string]any) { c["typ"] = "Refresh" })))}, status: 401},
		{name: "alg none", headers: []abi.Header{bearer(noneToken)}, status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A spoofed identity header rides along on every request.
			headers := append([]abi.Header{{Key: "x-client-id", Value: "spoofed"}, {Key: "x-user-id", Value: "admin"}}, tt.headers...)
			s := h.Request("GET", "/orders", headers...)
			defer s.Finish()
			if got := s.RequestHeaderValues("x-client-id"); len(got) > 1 || (len(got) == 1 && got[0] == "spoofed") {
				t.Fatalf("spoofed x-client-id survived: %q", got)
			}
			if got := s.RequestHeader("x-user-id"); got == "admin" {
				t.Fatalf("spoofed x-user-id survived")
			}
			if tt.status == 0 {
				if s.Local != nil {
					t.Fatalf("rejected with %d %s, want forwarded", s.Local.Status, s.Local.Body)
				}
				if !s.Forwarded {
					t.Fatal("request was not forwarded")
				}
				if got := s.RequestHeader("x-client-id"); got != "web-app" {
					t.Errorf("x-client-id = %q, want web-app (azp)", got)
				}
				if got := s.RequestHeader("x-user-id"); got != "user-123" {
					t.Errorf("x-user-id = %q, want user-123 (sub)", got)
				}
				if got := s.RequestHeader("authorization"); !strings.HasPrefix(strings.ToLower(got), "bearer ") {
					t.Errorf("authorization = %q, want the original header forwarded", got)
				}
				return
			}
			if s.Local == nil {
				t.Fatal("forwarded, want a local response")
			}
			if s.Forwarded {
				t.Fatal("request reached the upstream after a local response")
			}
			if s.Local.Status != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", s.Local.Status, tt.status, s.Local.Body)
			}
			ch := s.Local.Header("www-authenticate")
			if tt.challenge != "" && ch != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", ch, tt.challenge)
			}
			if tt.challenge == "" && !strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", ch)
			}
			if ct := s.Local.Header("content-type"); ct != "application/problem+json" {
				t.Errorf("content-type = %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(s.Local.Body, &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", s.Local.Body, err)
			}
			if body["status"] != float64(tt.status) || body["reason"] == "" {
				t.Errorf("body = %s", s.Local.Body)
			}
			if tt.reason != "" && body["reason"] != tt.reason {
				t.Errorf("reason = %v, want %s", body["reason"], tt.reason)
			}
		})
	}
}

func TestTokensNeverLogged(t *testing.T) {
	k := testKeys()
	h := startHost(t, testConfig(t))
	h.Level = abi.LogTrace
	good := sign(t, k.rsa, claims(h.Clock, nil))
	bad := sign(t, k.other, claims(h.Clock, nil))
	for _, tok := range []string{good, bad, "x.y.z"} {
		h.Request("GET", "/", bearer(tok)).Finish()
	}
	for _, l := range h.Logs {
		for _, tok := range []string{good, bad} {
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if strings.Contains(l.Msg, sig) || strings.Contains(l.Msg, tok[:20]) {
				t.Fatalf("log line contains a token: %q", l.Msg)
			}
		}
	}
}

func TestCacheHonoursExpiry(t *testing.T) {
	k := testKeys()
	h := startHost(t, testConfig(t))
	tok := sign(t, k.rsa, claims(h.Clock, func(c map[string]any) { c["exp"] = h.Clock.Add(time.Minute).Unix() }))
	for i := 0; i < 2; i++ {
		if s := h.Request("GET", "/", bearer(tok)); s.Local != nil {
			t.Fatalf("request %d rejected: %s", i, s.Local.Body)
		}
	}
	h.Clock = h.Clock.Add(2 * time.Minute) // past exp + skew
	if s := h.Request("GET", "/", bearer(tok)); s.Local == nil || s.Local.Status != 401 {
		t.Fatal("an expired token was served from the cache")
	}
}

func TestNoStreamLeak(t *testing.T) {
	h := startHost(t, testConfig(t))
	for i := 0; i < 50; i++ {
		h.Request("GET", "/", bearer("x")).Finish()
	}
	if n := h.VM().Streams(); n != 0 {
		t.Fatalf("%d stream contexts left after all requests finished", n)
	}
}

func TestUnconfiguredFailsClosed(t *testing.T) {
	h := abitest.New(newPlugin)
	h.PluginConfig = []byte(`{}`)
	if h.Start() {
		t.Fatal("a config without providers was accepted")
	}
	s := h.Request("GET", "/")
	if s.Local == nil || s.Local.Status != 503 {
		t.Fatalf("unconfigured filter did not fail closed: %+v", s.Local)
	}
}

func TestStripPrefix(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", true},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := stripPrefix(tt.in, "bearer ")
		if got != tt.want || ok != tt.ok {
			t.Errorf("stripPrefix(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSanitize(t *testing.T) {
	if got := sanitize("a\r\nX-Evil: 1"); got != "aX-Evil: 1" {
		t.Errorf("sanitize kept control characters: %q", got)
	}
}

// TestReusedStreamKeepsCacheKeys: a stream's header buffer is reused by its next request, so
// the verified-token cache must keep its own copy of each token: a token cached from one
// stream's buffer must still hit after that buffer carried another request.
func TestReusedStreamKeepsCacheKeys(t *testing.T) {
	k := testKeys()
	h := startHost(t, testConfig(t))
	tok := func(sub string) string {
		return sign(t, k.rsa, claims(h.Clock, func(c map[string]any) { c["sub"] = sub }))
	}
	t0, tx, ty := tok("user-0"), tok("user-x"), tok("user-y")
	a := h.Request("GET", "/", bearer(t0)) // cached from a's buffer
	b := h.Request("GET", "/", bearer(tx))
	a.Finish()
	c := h.Request("GET", "/", bearer(ty)) // reuses a's stream and buffer
	c.Finish()
	b.Finish()
	d := h.Request("GET", "/", bearer(t0)) // b's stream: another buffer
	if !d.Forwarded || d.RequestHeader("x-user-id") != "user-0" {
		t.Fatalf("repeated token: forwarded=%v x-user-id=%q", d.Forwarded, d.RequestHeader("x-user-id"))
	}
	if m := h.Metric("gatewarden_cache_hit"); m == nil || m.Value != 1 {
		t.Fatalf("cache hits = %+v, want 1: the cached token changed with its stream's buffer", m)
	}
}
