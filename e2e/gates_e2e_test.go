//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timings of the e2e plugin configuration. They are short so the rotation, expiry and outage
// scenarios finish in seconds; docs/CONFIG.md has the production defaults.
const (
	e2eClockSkew   = 1 * time.Second
	e2eRefresh     = 3 * time.Second  // JWKS refresh_interval (±10% jitter)
	e2eStaleMaxAge = 20 * time.Second // last good JWKS kept this long while Keycloak is down
	e2eKidCooldown = 1 * time.Second  // kid_refetch_cooldown
)

// pluginConfig is the filter configuration both gateways run (docs/CONFIG.md). upstream is the
// host's name for Keycloak: the Envoy cluster and the gateway upstream are both "keycloak".
func pluginConfig(kc *KeycloakServer) []byte {
	cfg := map[string]any{
		"realm": RealmName,
		"providers": []any{map[string]any{
			"name":                 "keycloak",
			"issuer":               kc.Issuer(),
			"audiences":            []string{APIClientID},
			"algorithms":           []string{"RS256"},
			"jwks_uri":             kc.Issuer() + "/protocol/openid-connect/certs",
			"upstream":             "keycloak",
			"authority":            strings.TrimPrefix(kc.BaseURL, "http://"),
			"clock_skew":           e2eClockSkew.String(),
			"refresh_interval":     e2eRefresh.String(),
			"kid_refetch_cooldown": e2eKidCooldown.String(),
			"stale_max_age":        e2eStaleMaxAge.String(),
			"fetch_timeout":        "2s",
			"pause_timeout":        "5s",
		}},
		"rules": []any{
			map[string]any{"prefix": "/public/", "public": true},
			map[string]any{"prefix": "/admin/", "provider": "keycloak", "realm_roles": []string{"api-admin"}},
			map[string]any{"prefix": "/reader/", "provider": "keycloak", "client_roles": []string{APIClientID + ":reader"}},
			map[string]any{"prefix": "/service/", "provider": "keycloak", "azp": []string{ServiceClientID}},
			map[string]any{"prefix": "/api/", "provider": "keycloak", "realm_roles": []string{"api-user"}},
		},
		"default_action":    "deny",
		"client_id_header":  "x-client-id",
		"user_id_header":    "x-user-id",
		"roles_header":      "x-user-roles",
		"claims_to_headers": []any{map[string]any{"claim": "preferred_username", "header": "x-username"}},
	}
	b, _ := json.Marshal(cfg)
	return b
}

// outputHeaders are the headers the filter sets; the backend must never see a client's value.
var outputHeaders = []string{"x-client-id", "x-user-id", "x-user-roles", "x-username"}

// gates are the two gateways under test, sharing the backend and a Switch in front of Keycloak.
var gates struct {
	once     sync.Once
	backend  *Backend // the API behind both gates
	sw       *Switch
	envoy    Gate
	envoyErr error
	gw       Gate
	gwErr    error
}

// needGates starts (once) Envoy with envoy.yaml and `gatewarden serve`, both with the same
// filter and configuration, and returns the ones running. A gateway that cannot run fails the
// test in CI; locally the test goes on with the other one (and skips when neither runs).
func needGates(t *testing.T) []Gate {
	t.Helper()
	kc := needKeycloak(t)
	wasm := needFilter(t)
	gates.once.Do(func() { startGates(t, kc, wasm) })
	return availableGates(t, gates.envoy, gates.envoyErr, gates.gw, gates.gwErr)
}

func startGates(t *testing.T, kc *KeycloakServer, wasm string) {
	var err error
	if gates.backend, err = StartBackend(); err != nil {
		gates.envoyErr, gates.gwErr = err, err
		return
	}
	atExit(func() { gates.backend.Close() })
	if gates.sw, err = NewSwitch(strings.TrimPrefix(kc.BaseURL, "http://")); err != nil {
		gates.envoyErr, gates.gwErr = err, err
		return
	}
	atExit(gates.sw.Close)
	cfg := pluginConfig(kc)
	if os.Getenv("E2E_INLINE_JWKS") != "" {
		// Until the filter fetches remote JWKS: Keycloak's keys inline (rotation and outage
		// scenarios then fail, the table still runs).
		cfg = inlineJWKS(t, cfg, kc)
	}
	if err := os.WriteFile(filepath.Join(suite.out, "plugin-config.json"), cfg, 0o644); err != nil {
		t.Log(err)
	}
	var stop func()
	gates.envoy, gates.envoyErr, gates.gw, gates.gwErr, stop = launchGates("e2e", gates.sw, gates.backend, wasm, cfg)
	atExit(stop)
}

// launchGates starts Envoy (envoy.yaml) and `gatewarden serve` with the same filter and
// configuration, reaching Keycloak through sw. stop ends whichever started.
func launchGates(name string, sw *Switch, backend *Backend, wasm string, cfg []byte) (envoy Gate, envoyErr error, gw Gate, gwErr error, stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	envoyBin, err := InstallEnvoy(ctx, suite.root)
	if err == nil {
		var base []byte
		base, err = os.ReadFile(filepath.Join(suite.root, "envoy.yaml"))
		if err == nil {
			var e *EnvoyServer
			e, err = StartEnvoy(ctx, envoyBin, suite.out, name, EnvoyConfig{
				Base: base, KeycloakAddr: sw.Addr(), BackendPort: backend.Port,
				WasmPath: wasm, PluginConfig: cfg,
			}, 3*time.Minute)
			if err == nil {
				fmt.Fprintf(os.Stderr, "e2e: envoy %s %s ready in %s, log %s\n", name, e.URL, e.Startup.Round(time.Millisecond), e.Proc.LogPath)
				envoy = e.AsGate()
				stops = append(stops, e.Stop)
			}
		}
	}
	envoyErr = err

	gwBin, err := buildGateway()
	if err != nil {
		return envoy, envoyErr, nil, err, stop
	}
	g, err := StartGateway(ctx, gwBin, suite.out, name, GatewayConfig{
		KeycloakURL: "http://" + sw.Addr(), BackendURL: backend.URL,
		WasmPath: wasm, PluginConfig: cfg,
	}, 2*time.Minute)
	if err != nil {
		return envoy, envoyErr, nil, err, stop
	}
	fmt.Fprintf(os.Stderr, "e2e: gatewarden %s %s ready in %s, log %s\n", name, g.URL(), g.Startup.Round(time.Millisecond), g.LogPath())
	stops = append(stops, g.Stop)
	return envoy, envoyErr, g, nil, stop
}

// availableGates applies the CI rule to a pair of launch results: in CI every gate must run;
// locally the test goes on with those that do and skips when none does.
func availableGates(t *testing.T, envoy Gate, envoyErr error, gw Gate, gwErr error) []Gate {
	t.Helper()
	var gs []Gate
	for _, g := range []struct {
		gate Gate
		err  error
		what string
	}{{envoy, envoyErr, "Envoy with the filter (e2e/peers/install-envoy.sh)"},
		{gw, gwErr, "gatewarden serve with the filter (go build ./cmd/gatewarden)"}} {
		switch {
		case g.err != nil && InCI():
			t.Fatalf("%s unavailable in CI: %v", g.what, g.err)
		case g.err != nil:
			t.Logf("%s unavailable, running without it (in CI this fails): %v", g.what, g.err)
		default:
			gs = append(gs, g.gate)
		}
	}
	if len(gs) == 0 {
		t.Skip("no gateway could run the filter; see the messages above")
	}
	return gs
}

// inlineJWKS swaps the provider's remote JWKS for Keycloak's current keys, inline.
func inlineJWKS(t *testing.T, cfg []byte, kc *KeycloakServer) []byte {
	resp, err := http.Get(kc.Issuer() + "/protocol/openid-connect/certs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(cfg, &m)
	p := m["providers"].([]any)[0].(map[string]any)
	for _, k := range []string{"jwks_uri", "upstream", "authority", "refresh_interval", "kid_refetch_cooldown", "stale_max_age", "fetch_timeout", "pause_timeout"} {
		delete(p, k)
	}
	p["jwks"] = jwks
	b, _ := json.Marshal(m)
	return b
}

// Result is what a client saw for one request through a gate.
type Result struct {
	Status  int
	Header  http.Header
	Body    []byte
	Problem struct {
		Reason string `json:"reason"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	Upstream *Seen // what the backend received; nil when the gate answered itself
}

// WWWAuthError returns the error="..." parameter of the WWW-Authenticate challenge.
func (r Result) WWWAuthError() string {
	h := r.Header.Get("WWW-Authenticate")
	_, v, ok := strings.Cut(h, `error="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

func (r Result) String() string {
	s := fmt.Sprintf("%d", r.Status)
	if r.Problem.Reason != "" {
		s += " reason=" + r.Problem.Reason
	}
	if w := r.Header.Get("WWW-Authenticate"); w != "" {
		s += " www-authenticate=" + strconv.Quote(w)
	}
	if r.Upstream == nil && r.Problem.Reason == "" && len(r.Body) > 0 {
		s += " body=" + strconv.Quote(string(r.Body[:min(len(r.Body), 200)]))
	}
	return s
}

// freshConns opens a new connection per request: Envoy binds a connection to one worker (one
// Wasm VM), so reused connections would hide what differs between VMs; real clients come in on
// many connections.
var freshConns = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// send sends one request through a gate. token "" sends no Authorization header.
func send(t *testing.T, g Gate, method, path, token string, hdr map[string]string) Result {
	t.Helper()
	req, err := http.NewRequest(method, g.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := freshConns.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", g.Name(), method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := Result{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if resp.Header.Get("X-Backend") == "echo" {
		var s Seen
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("%s: backend answer: %v", g.Name(), err)
		}
		r.Upstream = &s
	} else if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(body, &r.Problem)
	}
	return r
}
