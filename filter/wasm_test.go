package main

// Integration tests: the filter compiled to .wasm with the standard Go toolchain, run by our
// wazero host in-process, in front of httptest backends. They repeat the fake-host decisions
// end to end and add what only a real host shows: header mutations reaching the backend, HTTP
// callouts to a live key server, ticks, shared data across VMs.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/host"
	"github.com/gatewarden/gatewarden/internal/wasmbin"
	"github.com/gatewarden/gatewarden/internal/wasmkern"
	"github.com/gatewarden/gatewarden/jwt"
)

// wasmPath builds the filter once per test binary, as `make wasm` does: with the wasm
// kernels spliced in.
var wasmPath = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gatewarden-wasm")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "gatewarden.wasm")
	// The same flags as `make wasm`, so the test shares compiled code with other tests.
	cmd := exec.Command("go", "build", "-tags", "gatewarden_fast", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the filter: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	spliced, err := wasmbin.Splice(built, wasmkern.Module(), wasmkern.ImportModule, wasmkern.Names())
	if err != nil {
		return "", fmt.Errorf("splicing the kernels into the filter: %w", err)
	}
	return out, os.WriteFile(out, spliced, 0o644)
})

// echoBackend records what reached it.
type echoBackend struct {
	*httptest.Server
	hits atomic.Int64
	last atomic.Pointer[http.Header]
}

func newEcho(t *testing.T) *echoBackend {
	e := &echoBackend{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		h := r.Header.Clone()
		e.last.Store(&h)
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(e.Close)
	return e
}

// gateway runs the compiled filter in our host in front of a reverse proxy to backend.
func gateway(t *testing.T, cfg string, vms int, upstreams map[string]string, backend *echoBackend) *httptest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the .wasm")
	}
	path, err := wasmPath()
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cacheDir := filepath.Join(os.TempDir(), "gatewarden-test-wazero-cache")
	rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	pl, err := rt.LoadPlugin(ctx, host.PluginConfig{
		Name: "gatewarden", RootID: "gatewarden", VMID: "gatewarden-" + t.Name(),
		Wasm: wasm, Configuration: []byte(cfg), VMs: vms, Upstreams: upstreams,
	})
	if err != nil {
		t.Fatalf("loading the filter: %v", err)
	}
	target, _ := url.Parse(backend.URL)
	srv := httptest.NewServer(pl.Middleware(httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestWasmInlineJWKS(t *testing.T) {
	k := testKeys()
	backend := newEcho(t)
	gw := gateway(t, string(testConfig(t)), 2, nil, backend)
	now := time.Now()
	sig := func(key jwt.SigningKey, edit func(map[string]any)) string { return sign(t, key, claims(now, edit)) }
	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{name: "valid RS256", auth: "Bearer " + sig(k.rsa, nil), status: 200},
		{name: "valid ES256", auth: "Bearer " + sig(k.ec, nil), status: 200},
		{name: "missing", status: 401, challenge: `Bearer realm="demo"`},
		{name: "bad signature", auth: "Bearer " + sig(k.other, nil), status: 401, challenge: `error="invalid_token"`},
		{name: "wrong iss", auth: "Bearer " + sig(k.rsa, func(c map[string]any) { c["iss"] = "https://evil" }), status: 401, challenge: `error="invalid_token"`},
		{name: "wrong aud", auth: "Bearer " + sig(k.rsa, func(c map[string]any) { c["aud"] = "x" }), status: 401, challenge: `error="invalid_token"`},
		{name: "expired", auth: "Bearer " + sig(k.rsa, func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), status: 401, challenge: `error="invalid_token"`},
		{name: "nbf future", auth: "Bearer " + sig(k.rsa, func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), status: 401, challenge: `error="invalid_token"`},
		{name: "alg none", auth: "Bearer eyJhbGciOiJub25lIn0." + strings.Split(sig(k.rsa, nil), ".")[1] + ".", status: 401, challenge: `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := backend.hits.Load()
			headers := map[string]string{"x-client-id": "spoofed", "x-user-id": "admin"}
			if tt.auth != "" {
				headers["authorization"] = tt.auth
			}
			resp, body := get(t, gw.URL+"/orders", headers)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if backend.hits.Load() != before {
					t.Fatal("a refused request reached the backend")
				}
				if ch := resp.Header.Get("www-authenticate"); !strings.Contains(ch, tt.challenge) {
					t.Fatalf("WWW-Authenticate %q lacks %q", ch, tt.challenge)
				}
				if tt.auth == "" && strings.Contains(resp.Header.Get("www-authenticate"), "error=") {
					t.Fatal("a missing token must not get an error code (RFC 6750 3.1)")
				}
				return
			}
			seen := *backend.last.Load()
			if seen.Get("authorization") != tt.auth {
				t.Errorf("backend saw authorization %q", seen.Get("authorization"))
			}
			if v := seen.Values("x-client-id"); len(v) != 1 || v[0] != "web-app" {
				t.Errorf("backend saw x-client-id %q, want [web-app]", v)
			}
			if v := seen.Values("x-user-id"); len(v) != 1 || v[0] != "user-123" {
				t.Errorf("backend saw x-user-id %q, want [user-123]", v)
			}
		})
	}
}

// keyServer is a live OIDC key server whose answers tests change.
type keyServer struct {
	*httptest.Server
	mu        sync.Mutex
	jwks      []byte
	status    int
	delay     time.Duration
	jwksCalls atomic.Int64
}

func newKeyServer(t *testing.T, jwks []byte) *keyServer {
	ks := &keyServer{jwks: jwks, status: 200}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.mu.Lock()
		body, status, delay := ks.jwks, ks.status, ks.delay
		ks.mu.Unlock()
		switch r.URL.Path {
		case "/realms/demo/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":"http://%s/realms/demo/certs"}`, testIssuer, r.Host)
		case "/realms/demo/certs":
			ks.jwksCalls.Add(1)
			time.Sleep(delay)
			w.WriteHeader(status)
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(status int, body []byte, delay time.Duration) {
	ks.mu.Lock()
	ks.status, ks.jwks, ks.delay = status, body, delay
	ks.mu.Unlock()
}

func TestWasmRemoteJWKS(t *testing.T) {
	k := testKeys()
	idp := newKeyServer(t, jwksOf(t, k.rsa))
	idp.set(200, jwksOf(t, k.rsa), 300*time.Millisecond) // the first fetch is slow: requests wait
	backend := newEcho(t)
	cfg := `{"realm":"demo","providers":[{"name":"sso","issuer":"` + testIssuer + `","audiences":["` + testAudience + `"],
	  "discovery":true,"upstream":"idp","kid_refetch_cooldown":"1s","pause_timeout":"10s","stale_max_age":"1h"}]}`
	gw := gateway(t, cfg, 3, map[string]string{"idp": idp.URL}, backend)
	auth := func(key jwt.SigningKey) map[string]string {
		return map[string]string{"authorization": "Bearer " + sign(t, key, claims(time.Now(), nil))}
	}

	// Requests during the first fetch are paused, then served.
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := get(t, gw.URL+"/", auth(k.rsa))
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d during the first fetch got %d", i, c)
		}
	}
	if n := idp.jwksCalls.Load(); n != 1 {
		t.Errorf("3 VMs fetched the JWKS %d times, want 1 (shared data)", n)
	}

	// Rotation: a token with a new kid triggers a refetch after the cool-down.
	idp.set(200, jwksOf(t, k.rsa, jwt.SigningKey{Alg: "RS256", KeyID: "rsa-2", Key: k.other.Key}), 0)
	time.Sleep(1100 * time.Millisecond)
	rotated := jwt.SigningKey{Alg: "RS256", KeyID: "rsa-2", Key: k.other.Key}
	if resp, body := get(t, gw.URL+"/", auth(rotated)); resp.StatusCode != 200 {
		t.Fatalf("rotated key: %d %s", resp.StatusCode, body)
	}

	// A flood of random kids costs at most one fetch per cool-down.
	before := idp.jwksCalls.Load()
	for i := 0; i < 30; i++ {
		key := jwt.SigningKey{Alg: "RS256", KeyID: fmt.Sprintf("random-%d", i), Key: k.other.Key}
		if resp, _ := get(t, gw.URL+"/", auth(key)); resp.StatusCode != 401 {
			t.Fatalf("random kid got %d", resp.StatusCode)
		}
	}
	if n := idp.jwksCalls.Load() - before; n > 1 {
		t.Fatalf("a flood of random kids caused %d fetches inside one cool-down", n)
	}

	// Outage: the key server fails, known keys keep working.
	idp.set(500, []byte("down"), 0)
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if resp, body := get(t, gw.URL+"/", auth(k.rsa)); resp.StatusCode != 200 {
			t.Fatalf("during an outage: %d %s", resp.StatusCode, body)
		}
	}
}

func TestWasmUnknownUpstreamFailsStart(t *testing.T) {
	cfg := `{"providers":[{"issuer":"https://i","jwks_uri":"https://i/certs","upstream":"nope"}]}`
	backend := newEcho(t)
	// The host refuses upstreams it does not know at call time; the filter must fail closed:
	// requests wait for keys and then get 503, never reach the backend.
	gw := gateway(t, cfg, 1, nil, backend)
	resp, body := get(t, gw.URL+"/", map[string]string{"authorization": "Bearer a.b.c"})
	if resp.StatusCode != 503 && resp.StatusCode != 401 {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if backend.hits.Load() != 0 {
		t.Fatal("reached the backend without keys")
	}
}

// TestWasmHostileKeyServers runs key-server misbehaviour through our host's real callouts: a
// server that times out or serves garbage leaves the filter without keys (503, never a pass);
// a Keycloak-shaped JWKS with its RSA-OAEP encryption key works.
func TestWasmHostileKeyServers(t *testing.T) {
	k := testKeys()
	keycloakShaped := func() []byte {
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		_ = json.Unmarshal(jwksOf(t, k.rsa), &doc)
		enc := map[string]any{}
		for key, v := range doc.Keys[0] {
			enc[key] = v
		}
		enc["kid"], enc["use"], enc["alg"] = "enc-key", "enc", "RSA-OAEP"
		doc.Keys = append([]map[string]any{enc}, doc.Keys...)
		b, _ := json.Marshal(doc)
		return b
	}
	tests := []struct {
		name   string
		status int
		body   []byte
		delay  time.Duration
		want   int
	}{
		{name: "times out", status: 200, body: jwksOf(t, k.rsa), delay: time.Second, want: 503},
		{name: "garbage", status: 200, body: []byte("<html>502 Bad Gateway</html>"), want: 503},
		{name: "server error", status: 500, body: []byte("{}"), want: 503},
		{name: "keycloak-shaped", status: 200, body: keycloakShaped(), want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := newKeyServer(t, nil)
			idp.set(tt.status, tt.body, tt.delay)
			backend := newEcho(t)
			cfg := `{"providers":[{"issuer":"` + testIssuer + `","audiences":["` + testAudience + `"],
			  "discovery":true,"upstream":"idp","fetch_timeout":"500ms","pause_timeout":"1500ms"}]}`
			gw := gateway(t, cfg, 2, map[string]string{"idp": idp.URL}, backend)
			resp, body := get(t, gw.URL+"/", map[string]string{"authorization": "Bearer " + sign(t, k.rsa, claims(time.Now(), nil))})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want != 200 && backend.hits.Load() != 0 {
				t.Fatal("reached the backend without keys")
			}
		})
	}
}
