package main

import (
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/filter/abi"
)

// policyConfig has rules for every requirement kind; tokens come from testKeys.
func policyConfig(t *testing.T, extra string) []byte {
	t.Helper()
	return []byte(`{"realm":"demo",` + extra + `
	 "providers":[{"name":"sso","issuer":"` + testIssuer + `","audiences":["` + testAudience + `"],"jwks":` + testJWKS(t) + `},
	              {"name":"partner","issuer":"https://partner.example.com","jwks":` + testJWKS(t) + `}],
	 "rules":[
	  {"path":"/health","public":true},
	  {"prefix":"/docs","methods":["GET"],"allow_missing":true},
	  {"prefix":"/admin","realm_roles":["admin"]},
	  {"prefix":"/reports","client_roles":["orders-api:reader","app.example.com:viewer"],"any_role":true},
	  {"prefix":"/orders","methods":["POST"],"scopes":["orders:write"]},
	  {"prefix":"/orders","realm_roles":["user"],"azp":["web-app","mobile-app"]},
	  {"regex":"/v[0-9]+/verified","claims":[{"claim":"email_verified","equals":"true"},{"claim":"groups","contains":"staff"}]},
	  {"prefix":"/partner","provider":"partner"},
	  {"prefix":"/any","any_of":["sso","partner"]}
	 ]}`)
}

func TestPolicyRules(t *testing.T) {
	k := testKeys()
	h := startHost(t, policyConfig(t, `"claims_to_headers":[{"claim":"scope","header":"x-scope"}],`))
	now := h.Clock
	tok := func(edit func(map[string]any)) abi.Header { return bearer(sign(t, k.rsa, claims(now, edit))) }
	partner := func(c map[string]any) { c["iss"] = "https://partner.example.com" }
	tests := []struct {
		name, method, path string
		headers            []abi.Header
		status             int // 0: forwarded
		reason             string
	}{
		{name: "public without token", method: "GET", path: "/health"},
		{name: "public ignores a bad token", method: "GET", path: "/health", headers: []abi.Header{bearer("garbage")}},
		{name: "public is exact", method: "GET", path: "/health/deep", status: 403, reason: "no_matching_rule"},
		{name: "allow_missing without token", method: "GET", path: "/docs/x"},
		{name: "allow_missing with a bad token", method: "GET", path: "/docs/x", headers: []abi.Header{bearer("garbage")}, status: 401},
		{name: "allow_missing only for GET", method: "DELETE", path: "/docs/x", status: 403, reason: "no_matching_rule"},
		{name: "missing realm role", method: "GET", path: "/admin/users", headers: []abi.Header{tok(nil)}, status: 403, reason: "missing_role"},
		{name: "realm role held", method: "GET", path: "/admin/users", headers: []abi.Header{tok(func(c map[string]any) {
			c["realm_access"] = map[string]any{"roles": []string{"user", "admin"}}
		})}},
		{name: "prefix matches whole segments", method: "GET", path: "/administrator", headers: []abi.Header{tok(nil)}, status: 403, reason: "no_matching_rule"},
		{name: "dot-dot cannot escape a rule", method: "GET", path: "/docs/../admin/users", headers: []abi.Header{tok(nil)}, status: 403, reason: "missing_role"},
		{name: "encoded slash refused", method: "GET", path: "/docs/..%2fadmin", status: 400, reason: "ambiguous_path"},
		{name: "client role any-of (dotted client id)", method: "GET", path: "/reports", headers: []abi.Header{tok(func(c map[string]any) {
			c["resource_access"] = map[string]any{"app.example.com": map[string]any{"roles": []string{"viewer"}}}
		})}},
		{name: "client role missing", method: "GET", path: "/reports", headers: []abi.Header{tok(func(c map[string]any) {
			c["resource_access"] = map[string]any{"orders-api": map[string]any{"roles": []string{"writer"}}}
		})}, status: 403, reason: "missing_role"},
		{name: "scope missing", method: "POST", path: "/orders", headers: []abi.Header{tok(nil)}, status: 403, reason: "missing_scope"},
		{name: "scope granted", method: "POST", path: "/orders", headers: []abi.Header{tok(func(c map[string]any) { c["scope"] = "openid orders:write" })}},
		{name: "azp allowed", method: "GET", path: "/orders/1", headers: []abi.Header{tok(nil)}},
		{name: "azp refused", method: "GET", path: "/orders/1", headers: []abi.Header{tok(func(c map[string]any) { c["azp"] = "other-app" })}, status: 403, reason: "client_not_allowed"},
		{name: "claims hold", method: "GET", path: "/v2/verified", headers: []abi.Header{tok(func(c map[string]any) {
			c["email_verified"] = true
			c["groups"] = []string{"staff", "dev"}
		})}},
		{name: "claim mismatch", method: "GET", path: "/v2/verified", headers: []abi.Header{tok(func(c map[string]any) { c["email_verified"] = false })}, status: 403, reason: "claim_mismatch"},
		{name: "provider-specific rule refuses other issuers", method: "GET", path: "/partner/x", headers: []abi.Header{tok(nil)}, status: 401, reason: "issuer_not_accepted"},
		{name: "provider-specific rule", method: "GET", path: "/partner/x", headers: []abi.Header{tok(partner)}},
		{name: "any_of second provider", method: "GET", path: "/any", headers: []abi.Header{tok(partner)}},
		{name: "unknown issuer", method: "GET", path: "/any", headers: []abi.Header{tok(func(c map[string]any) { c["iss"] = "https://x" })}, status: 401},
		{name: "unmatched is denied", method: "GET", path: "/elsewhere", headers: []abi.Header{tok(nil)}, status: 403, reason: "no_matching_rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spoof := []abi.Header{{Key: "x-client-id", Value: "evil"}, {Key: "x-user-id", Value: "evil"},
				{Key: "x-user-roles", Value: "admin"}, {Key: "x-scope", Value: "all"}}
			s := h.Request(tt.method, tt.path, append(spoof, tt.headers...)...)
			defer s.Finish()
			for _, name := range []string{"x-client-id", "x-user-id", "x-user-roles", "x-scope"} {
				for _, v := range s.RequestHeaderValues(name) {
					if v == "evil" || v == "admin" || v == "all" {
						t.Fatalf("spoofed %s survived on this path", name)
					}
				}
			}
			if tt.status == 0 {
				if s.Local != nil || !s.Forwarded {
					t.Fatalf("want forwarded, got %+v", s.Local)
				}
				return
			}
			if s.Local == nil {
				t.Fatalf("forwarded, want %d", tt.status)
			}
			if s.Local.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", s.Local.Status, tt.status, s.Local.Body)
			}
			if tt.reason != "" && !strings.Contains(string(s.Local.Body), `"reason":"`+tt.reason+`"`) {
				t.Fatalf("body %s lacks reason %s", s.Local.Body, tt.reason)
			}
			if tt.status == 403 && tt.reason != "no_matching_rule" &&
				!strings.Contains(s.Local.Header("www-authenticate"), `error="insufficient_scope"`) {
				t.Fatalf("403 challenge = %q", s.Local.Header("www-authenticate"))
			}
		})
	}
}

func TestClaimsToHeaders(t *testing.T) {
	k := testKeys()
	h := startHost(t, []byte(`{"payload_header":"x-jwt-payload","max_header_bytes":64,
	  "claims_to_headers":[
	    {"claim":"realm_access.roles","header":"x-roles-pipe","separator":"|"},
	    {"claim":"resource_access.orders-api","header":"x-client-access","format":"json"},
	    {"claim":"preferred_username","header":"x-username"},
	    {"claim":"huge","header":"x-huge"},
	    {"claim":"absent","header":"x-absent"}],
	  "providers":[{"issuer":"`+testIssuer+`","jwks":`+testJWKS(t)+`}]}`))
	tok := sign(t, k.rsa, claims(h.Clock, func(c map[string]any) {
		c["realm_access"] = map[string]any{"roles": []string{"user", "admin"}}
		c["resource_access"] = map[string]any{"orders-api": map[string]any{"roles": []string{"reader"}}}
		c["preferred_username"] = "alice\r\nx-injected: 1"
		c["huge"] = strings.Repeat("h", 100)
	}))
	s := h.Request("GET", "/", bearer(tok), abi.Header{Key: "x-absent", Value: "spoof"})
	if s.Local != nil {
		t.Fatalf("rejected: %s", s.Local.Body)
	}
	want := map[string]string{
		"x-user-roles":    "user,admin",
		"x-roles-pipe":    "user|admin",
		"x-client-access": `{"roles":["reader"]}`,
		"x-username":      "alicex-injected: 1",
		"x-huge":          "",
		"x-absent":        "",
	}
	for name, v := range want {
		if got := s.RequestHeader(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if s.RequestHeader("x-jwt-payload") != "" {
		t.Error("payload header over max_header_bytes should be left out")
	}
}

func TestTokenSources(t *testing.T) {
	k := testKeys()
	h := startHost(t, []byte(`{"forward":false,"token_sources":[{"header":"authorization","prefix":"Bearer "},
	  {"query":"access_token"},{"cookie":"at"}],"providers":[{"issuer":"`+testIssuer+`","jwks":`+testJWKS(t)+`}]}`))
	good := sign(t, k.rsa, claims(h.Clock, nil))
	other := sign(t, k.ec, claims(h.Clock, nil))
	tests := []struct {
		name    string
		path    string
		headers []abi.Header
		status  int
		check   func(t *testing.T, s interface{ RequestHeader(string) string })
	}{
		{name: "query", path: "/x?a=1&access_token=" + good + "&b=2", check: func(t *testing.T, s interface{ RequestHeader(string) string }) {
			if p := s.RequestHeader(":path"); p != "/x?a=1&b=2" {
				t.Errorf("token left in the path: %q", p)
			}
		}},
		{name: "cookie", path: "/x", headers: []abi.Header{{Key: "cookie", Value: "theme=dark; at=" + good}}, check: func(t *testing.T, s interface{ RequestHeader(string) string }) {
			if c := s.RequestHeader("cookie"); c != "theme=dark" {
				t.Errorf("token left in the cookie: %q", c)
			}
		}},
		{name: "header stripped with forward off", path: "/x", headers: []abi.Header{bearer(good)}, check: func(t *testing.T, s interface{ RequestHeader(string) string }) {
			if a := s.RequestHeader("authorization"); a != "" {
				t.Errorf("authorization forwarded: %q", a)
			}
		}},
		{name: "same token twice is fine", path: "/x?access_token=" + good, headers: []abi.Header{bearer(good)}},
		{name: "two different tokens", path: "/x?access_token=" + other, headers: []abi.Header{bearer(good)}, status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.Request("GET", tt.path, tt.headers...)
			if tt.status != 0 {
				if s.Local == nil || s.Local.Status != tt.status {
					t.Fatalf("want %d, got %+v", tt.status, s.Local)
				}
				return
			}
			if s.Local != nil {
				t.Fatalf("rejected: %s", s.Local.Body)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestCORSPreflightBypass(t *testing.T) {
	cfg := func(bypass string) []byte {
		return []byte(`{"bypass_cors_preflight":` + bypass + `,"providers":[{"issuer":"` + testIssuer + `","jwks":` + testJWKS(t) + `}]}`)
	}
	pre := []abi.Header{{Key: "origin", Value: "https://app"}, {Key: "access-control-request-method", Value: "POST"}, {Key: "x-user-id", Value: "evil"}}
	s := startHost(t, cfg("true")).Request("OPTIONS", "/orders", pre...)
	if s.Local != nil || s.RequestHeader("x-user-id") != "" {
		t.Fatalf("preflight with bypass: local=%+v x-user-id=%q", s.Local, s.RequestHeader("x-user-id"))
	}
	if s := startHost(t, cfg("false")).Request("OPTIONS", "/orders", pre...); s.Local == nil || s.Local.Status != 401 {
		t.Fatal("preflight passed without bypass configured")
	}
	if s := startHost(t, cfg("true")).Request("OPTIONS", "/orders"); s.Local == nil {
		t.Fatal("a plain OPTIONS (no CORS headers) passed without a token")
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/a/b", "/a/b", true},
		{"/a//b/", "/a/b/", true},
		{"/a/./b/../c?x=1", "/a/c", true},
		{"/../../etc", "/etc", true},
		{"/a%2Fb", "", false},
		{"/a%2e%2e/b", "", false},
		{"/a\\b", "", false},
		{"a/b", "", false},
		{"/", "/", true},
	}
	for _, tt := range tests {
		got, ok := normalizePath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRequestIDInProblem(t *testing.T) {
	h := startHost(t, testConfig(t))
	s := h.Request("GET", "/", abi.Header{Key: "x-request-id", Value: "req-42"})
	if !strings.Contains(string(s.Local.Body), `"request_id":"req-42"`) {
		t.Fatalf("body %s lacks the request id", s.Local.Body)
	}
	s = h.Request("GET", "/", abi.Header{Key: "x-request-id", Value: `"},"evil":1`})
	if strings.Contains(string(s.Local.Body), "evil") {
		t.Fatalf("unsafe request id echoed: %s", s.Local.Body)
	}
}
