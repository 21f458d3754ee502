//go:build e2e

package e2e

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtures are real Keycloak tokens for one run of the scenario table. demo-app's access tokens
// live 10 s, so they are fetched right before the table runs against both gates.
type fixtures struct {
	alice, bob, carol, service    *Tokens
	aliceOffline                  *Tokens
	tampered, algNone, unknownKid string
}

func getFixtures(t *testing.T) *fixtures {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	o := oidc(t)
	pw := func(u User, scopes ...string) *Tokens {
		tok, err := o.PasswordGrant(ctx, DemoAppClientID, "", u, scopes...)
		if err != nil {
			t.Fatalf("password grant for %s: %v", u.Name, err)
		}
		return tok
	}
	f := &fixtures{alice: pw(Alice, "openid"), bob: pw(Bob), carol: pw(Carol), aliceOffline: pw(Alice, "offline_access")}
	svc, err := o.ClientCredentials(ctx, ServiceClientID, ServiceClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.service = svc
	// Flip one bit of the signature's first byte (base64url char 'A'<->'B' keeps it decodable).
	parts := strings.Split(f.alice.AccessToken, ".")
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	f.tampered = parts[0] + "." + parts[1] + "." + string(sig)
	// The same claims under alg "none", with and without a signature part.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	f.algNone = none + "." + parts[1] + "."
	// A well-formed RS256 token whose kid Keycloak never had.
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"not-a-keycloak-kid"}`))
	f.unknownKid = hdr + "." + parts[1] + "." + parts[2]
	return f
}

func (f *fixtures) sub(tok *Tokens) string {
	c, _ := DecodeClaims(tok.AccessToken)
	s, _ := c["sub"].(string)
	return s
}

func (f *fixtures) realmRoles(tok *Tokens) string {
	c, _ := DecodeClaims(tok.AccessToken)
	return strings.Join(strs(claimAt(c, "realm_access", "roles")), ",")
}

// scenario is one row of the table every gate must answer alike.
type scenario struct {
	name    string
	method  string // "" = GET
	path    string
	token   func(f *fixtures) string // nil = no Authorization header
	rawAuth func(f *fixtures) string // Authorization header sent verbatim (instead of token)
	header  map[string]string        // extra request headers (spoofing attempts)
	status  int
	wwwErr  string   // error= of WWW-Authenticate; "-" = header present without error param
	reasons []string // accepted problem+json reasons (any of); nil = not checked
	// upstream: expected headers at the backend (status 200 only); "" = must be absent.
	upstream func(f *fixtures) map[string]string
}

var spoof = map[string]string{"x-client-id": "evil-app", "x-user-id": "root", "x-user-roles": "api-admin", "x-username": "admin"}

func absentOutputs(*fixtures) map[string]string {
	return map[string]string{"x-client-id": "", "x-user-id": "", "x-user-roles": "", "x-username": ""}
}

func userOutputs(who func(f *fixtures) *Tokens, azp, name string) func(f *fixtures) map[string]string {
	return func(f *fixtures) map[string]string {
		tok := who(f)
		return map[string]string{
			"authorization": "Bearer " + tok.AccessToken, // forwarded untouched
			"x-client-id":   azp,
			"x-user-id":     f.sub(tok),
			"x-user-roles":  f.realmRoles(tok),
			"x-username":    name,
		}
	}
}

var (
	alice   = func(f *fixtures) *Tokens { return f.alice }
	bob     = func(f *fixtures) *Tokens { return f.bob }
	carol   = func(f *fixtures) *Tokens { return f.carol }
	service = func(f *fixtures) *Tokens { return f.service }
	access  = func(who func(*fixtures) *Tokens) func(*fixtures) string {
		return func(f *fixtures) string { return who(f).AccessToken }
	}
)

// notAccess are the reasons a token can be refused with for not being an access token of this
// API: Keycloak signs refresh/offline tokens with HS512 (refused by the RS256 allow-list before
// their typ is read) and ID tokens carry typ ID and aud demo-app.
var notAccess = []string{"token_type_not_accepted", "algorithm_not_allowed", "audience_not_accepted"}

var scenarios = []scenario{
	// Public route: no token needed, and client-sent identity headers never reach the backend.
	{name: "public no token", path: "/public/info", status: 200, upstream: absentOutputs},
	{name: "public spoofed identity headers stripped", path: "/public/info", header: spoof, status: 200, upstream: absentOutputs},
	// Item 2 and the basic refusals.
	{name: "api no token", path: "/api/orders", status: 401, wwwErr: "-", reasons: []string{"missing_token"}},
	{name: "api garbage token", path: "/api/orders", token: func(*fixtures) string { return "abc" }, status: 401, wwwErr: "invalid_token", reasons: []string{"malformed_token"}},
	{name: "api tampered signature", path: "/api/orders", token: func(f *fixtures) string { return f.tampered }, status: 401, wwwErr: "invalid_token", reasons: []string{"invalid_signature"}},
	{name: "api alg none", path: "/api/orders", token: func(f *fixtures) string { return f.algNone }, status: 401, wwwErr: "invalid_token", reasons: []string{"algorithm_not_allowed", "malformed_token"}},
	{name: "api unknown kid", path: "/api/orders", token: func(f *fixtures) string { return f.unknownKid }, status: 401, wwwErr: "invalid_token", reasons: []string{"unknown_key"}},
	{name: "api alice passes with identity headers", path: "/api/orders", token: access(alice), status: 200, upstream: userOutputs(alice, DemoAppClientID, "alice")},
	{name: "api alice spoofed headers replaced", path: "/api/orders", token: access(alice), header: spoof, status: 200, upstream: userOutputs(alice, DemoAppClientID, "alice")},
	{name: "api lower-case bearer scheme", path: "/api/orders", rawAuth: func(f *fixtures) string { return "bearer " + f.alice.AccessToken }, status: 200,
		upstream: func(f *fixtures) map[string]string {
			m := userOutputs(alice, DemoAppClientID, "alice")(f)
			m["authorization"] = "bearer " + f.alice.AccessToken // forwarded exactly as sent
			return m
		}},
	{name: "api basic auth is no token", path: "/api/orders", rawAuth: func(*fixtures) string { return "Basic YWxpY2U6eA==" }, status: 401, wwwErr: "-", reasons: []string{"missing_token"}},
	{name: "api POST alice", method: "POST", path: "/api/orders", token: access(alice), status: 200, upstream: userOutputs(alice, DemoAppClientID, "alice")},
	// Item 5: refresh, offline and ID tokens are not access tokens.
	{name: "api refresh token as bearer", path: "/api/orders", token: func(f *fixtures) string { return f.alice.RefreshToken }, status: 401, wwwErr: "invalid_token", reasons: notAccess},
	{name: "api offline token as bearer", path: "/api/orders", token: func(f *fixtures) string { return f.aliceOffline.RefreshToken }, status: 401, wwwErr: "invalid_token", reasons: notAccess},
	{name: "api ID token as bearer", path: "/api/orders", token: func(f *fixtures) string { return f.alice.IDToken }, status: 401, wwwErr: "invalid_token", reasons: notAccess},
	// Item 6: roles.
	{name: "api bob lacks realm role", path: "/api/orders", token: access(bob), header: spoof, status: 403, wwwErr: "insufficient_scope"},
	{name: "reader alice has client role", path: "/reader/books", token: access(alice), status: 200, upstream: userOutputs(alice, DemoAppClientID, "alice")},
	{name: "reader bob lacks client role", path: "/reader/books", token: access(bob), status: 403, wwwErr: "insufficient_scope"},
	{name: "reader service has writer only", path: "/reader/books", token: access(service), status: 403, wwwErr: "insufficient_scope"},
	{name: "admin carol", path: "/admin/users", token: access(carol), status: 200, upstream: userOutputs(carol, DemoAppClientID, "carol")},
	{name: "admin alice lacks api-admin", path: "/admin/users", token: access(alice), status: 403, wwwErr: "insufficient_scope"},
	// Item 9: the service account's token, with its azp.
	{name: "service route service account", path: "/service/jobs", token: access(service), status: 200, upstream: userOutputs(service, ServiceClientID, "service-account-service-client")},
	{name: "service route alice wrong azp", path: "/service/jobs", token: access(alice), status: 403, wwwErr: "insufficient_scope"},
	{name: "api service account", path: "/api/orders", token: access(service), status: 200, upstream: userOutputs(service, ServiceClientID, "service-account-service-client")},
	// No rule matches: default_action deny.
	{name: "unmatched path denied", path: "/elsewhere", token: access(carol), status: 403},
}

// outcome is the comparable part of a Result: what the differential test holds both gates to.
type outcome struct {
	Status   int
	Reason   string
	WWWErr   string
	Upstream string // the filter's output headers + authorization as the backend saw them
}

func outcomeOf(r Result) outcome {
	o := outcome{Status: r.Status, Reason: r.Problem.Reason, WWWErr: r.WWWAuthError()}
	if r.Upstream != nil {
		var parts []string
		for _, h := range append([]string{"authorization"}, outputHeaders...) {
			parts = append(parts, h+"="+r.Upstream.Header(h))
		}
		o.Upstream = strings.Join(parts, " ")
	}
	return o
}

// runScenario sends one row through a gate and checks the expectations.
func runScenario(t *testing.T, g Gate, f *fixtures, sc scenario) Result {
	t.Helper()
	method := sc.method
	if method == "" {
		method = "GET"
	}
	tok := ""
	if sc.token != nil {
		tok = sc.token(f)
	}
	hdr := map[string]string{}
	for k, v := range sc.header {
		hdr[k] = v
	}
	if sc.rawAuth != nil {
		hdr["Authorization"] = sc.rawAuth(f)
	}
	r := send(t, g, method, sc.path, tok, hdr)
	if r.Status == 500 {
		t.Errorf("%s: 500 from the gate: %s", g.Name(), r)
	}
	if r.Status != sc.status {
		t.Errorf("%s: status %s, want %d", g.Name(), r, sc.status)
		return r
	}
	if sc.status == 200 && r.Upstream == nil {
		t.Errorf("%s: 200 but not from the backend: %s", g.Name(), r)
	}
	if sc.status == 401 || sc.status == 403 {
		if r.Upstream != nil {
			t.Errorf("%s: %d came from the backend", g.Name(), sc.status)
		}
		w := r.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(w, "Bearer ") || !strings.Contains(w, `realm="`+RealmName+`"`) {
			t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge with realm %q", g.Name(), w, RealmName)
		}
		switch {
		case sc.wwwErr == "-" && r.WWWAuthError() != "":
			t.Errorf("%s: WWW-Authenticate error = %q, want none (RFC 6750 3.1: no error without a token)", g.Name(), r.WWWAuthError())
		case sc.wwwErr != "" && sc.wwwErr != "-" && r.WWWAuthError() != sc.wwwErr:
			t.Errorf("%s: WWW-Authenticate error = %q, want %q", g.Name(), r.WWWAuthError(), sc.wwwErr)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: content type %q, want application/problem+json", g.Name(), ct)
		}
		if r.Problem.Status != sc.status {
			t.Errorf("%s: problem status %d, want %d", g.Name(), r.Problem.Status, sc.status)
		}
		if sc.reasons != nil && !slices.Contains(sc.reasons, r.Problem.Reason) {
			t.Errorf("%s: reason %q, want one of %v", g.Name(), r.Problem.Reason, sc.reasons)
		}
		if tok != "" && strings.Contains(string(r.Body), tok) {
			t.Errorf("%s: the error body echoes the token", g.Name())
		}
	}
	if r.Upstream != nil && sc.upstream != nil {
		for h, want := range sc.upstream(f) {
			if want == "" {
				if r.Upstream.Has(h) {
					t.Errorf("%s: backend got %s = %q, want it absent", g.Name(), h, r.Upstream.Header(h))
				}
				continue
			}
			if got := r.Upstream.Header(h); got != want {
				t.Errorf("%s: backend got %s = %q, want %q", g.Name(), h, clipS(got), clipS(want))
			}
		}
	}
	return r
}

func clipS(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// TestScenarios runs the scenario table through Envoy and our gateway with the same .wasm and
// configuration, checks each against its expectation, and fails on any difference between the
// two (the differential test of issue 6; a justified difference goes to docs/COMPATIBILITY.md).
func TestScenarios(t *testing.T) {
	gs := needGates(t)
	waitKeys(t, gs)
	f := getFixtures(t)
	results := map[string]map[string]Result{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			results[sc.name] = map[string]Result{}
			for _, g := range gs {
				results[sc.name][g.Name()] = runScenario(t, g, f, sc)
			}
			if len(gs) < 2 {
				return
			}
			a, b := outcomeOf(results[sc.name][gs[0].Name()]), outcomeOf(results[sc.name][gs[1].Name()])
			if a != b {
				t.Errorf("differential: %s and %s disagree:\n  %s: %+v\n  %s: %+v", gs[0].Name(), gs[1].Name(), gs[0].Name(), a, gs[1].Name(), b)
			}
		})
	}
}

// waitKeys waits until every gate has the realm's current JWKS on all its VMs: a valid token
// of the current key passes several times in a row on fresh connections (Envoy spreads
// connections over its workers, our gateway spreads requests over its VMs). Requests during
// the first fetch are paused by the filter; TestFirstRequestsPaused covers that path.
func waitKeys(t *testing.T, gs []Gate) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	for _, g := range gs {
		ok := 0
		for ok < 6 {
			tok, err := oidc(t).ClientCredentials(ctx, ServiceClientID, ServiceClientSecret)
			if err != nil {
				t.Fatal(err)
			}
			r := send(t, g, "GET", "/api/warmup", tok.AccessToken, nil)
			if r.Status == 200 {
				ok++
				continue
			}
			ok = 0
			select {
			case <-ctx.Done():
				t.Fatalf("%s never accepted a valid token: last %s; log %s:\n%s", g.Name(), r, g.LogPath(), TailFile(g.LogPath(), 30))
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// eventually polls check until it returns "" or the timeout passes; the last message fails t.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
