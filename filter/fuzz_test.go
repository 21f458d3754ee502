package main

import (
	"testing"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/filter/abi/abitest"
)

// FuzzRequest sends hostile paths, methods and credentials through the whole request path of
// the policy configuration. Whatever comes in: no panic, injected headers never survive from the
// client, and only public or anonymous-allowed routes forward without a token.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/health", "authorization", "Bearer x.y.z", "a=b")
	f.Add("GET", "/docs/..%2fadmin", "authorization", "bearer", "at=1")
	f.Add("OPTIONS", "/orders?access_token=a.b.c&access_token=d", "cookie", "at=x; at=y", "")
	f.Add("POST", "//admin/./x/../", "authorization", "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", "")
	f.Add("\x00", "\xff", "authorization", "Bearer \r\n", "")
	cfg := func(t *testing.T) []byte {
		return policyConfig(t, `"token_sources":[{"header":"authorization","prefix":"Bearer "},{"query":"access_token"},{"cookie":"at"}],`)
	}
	var h *abitest.Host
	f.Fuzz(func(t *testing.T, method, path, hk, hv, cookie string) {
		if h == nil {
			h = startHost(t, cfg(t))
		}
		s := h.Request(method, path,
			abi.Header{Key: hk, Value: hv}, abi.Header{Key: "cookie", Value: cookie},
			abi.Header{Key: "x-user-id", Value: "spoofed"}, abi.Header{Key: "x-client-id", Value: "spoofed"})
		defer s.Finish()
		for _, name := range []string{"x-user-id", "x-client-id"} {
			for _, v := range s.RequestHeaderValues(name) {
				if v == "spoofed" {
					t.Fatalf("spoofed %s survived", name)
				}
			}
		}
		if s.Local == nil && !s.Forwarded && !s.Paused {
			t.Fatal("request neither forwarded, answered nor paused")
		}
		if s.Forwarded && s.RequestHeader("x-user-id") == "" {
			n, ok := normalizePath(path)
			if !ok || !(n == "/health" || (method == "GET" && (n == "/docs" || len(n) > 5 && n[:6] == "/docs/"))) {
				t.Fatalf("%s %q forwarded without an identity", method, path)
			}
		}
	})
}

// FuzzNormalizePath checks that the single-pass fast path agrees with the general one.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/..", "/a/.", "/a?x=/../", "/a#f", "/%2e%2e/", "/a%20b", "a", "", "/\\", "/a\x00", "/..", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, wantOK := normalizePathSlow(raw)
		if p, ok, done := normalizedAlready(raw); done && (p != want || ok != wantOK) {
			t.Fatalf("fast path %q: %q %v, general %q %v", raw, p, ok, want, wantOK)
		}
		if got, ok := normalizePath(raw); got != want || ok != wantOK {
			t.Fatalf("normalizePath(%q) = %q %v, want %q %v", raw, got, ok, want, wantOK)
		}
	})
}
