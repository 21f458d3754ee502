//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnvoyExample runs the repo's envoy.yaml as documented, with its own plugin configuration;
// only ports, the wasm path and Keycloak's address (127.0.0.1:8080 in the file) change.
func TestEnvoyExample(t *testing.T) {
	kc := needKeycloak(t)
	wasm := needFilter(t)
	bin := needEnvoy(t)
	backend, err := StartBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	base, err := os.ReadFile(filepath.Join(suite.root, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kcAddr := strings.TrimPrefix(kc.BaseURL, "http://")
	e, err := StartEnvoy(ctxT(t, 5*time.Minute), bin, suite.out, "example", EnvoyConfig{
		Base: base, KeycloakAddr: kcAddr, BackendPort: backend.Port, WasmPath: wasm,
		PluginConfigReplace: []string{"127.0.0.1:8080", kcAddr},
	}, 3*time.Minute)
	if err != nil {
		if InCI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	defer e.Stop()
	g := e.AsGate()
	waitKeys(t, []Gate{g})
	f := getFixtures(t)
	for _, tt := range []struct {
		name, path string
		who        *Tokens // nil: no token
		status     int
	}{
		{"health is public", "/healthz", nil, 200},
		{"no token", "/", nil, 401},
		{"alice api-user", "/orders", f.alice, 200},
		{"bob no role", "/orders", f.bob, 403},
		{"alice not admin", "/admin/x", f.alice, 403},
		{"carol admin", "/admin/x", f.carol, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := ""
			if tt.who != nil {
				tok = tt.who.AccessToken
			}
			r := send(t, g, "GET", tt.path, tok, nil)
			if r.Status != tt.status {
				t.Fatalf("%s, want %d", r, tt.status)
			}
			if r.Status == 200 && tt.who != nil {
				if r.Upstream.Header("x-client-id") != DemoAppClientID || r.Upstream.Header("x-user-id") != f.sub(tt.who) {
					t.Errorf("backend identity headers: x-client-id=%q x-user-id=%q", r.Upstream.Header("x-client-id"), r.Upstream.Header("x-user-id"))
				}
			}
		})
	}
}
