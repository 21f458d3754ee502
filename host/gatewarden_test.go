package host

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
)

// The product filter (build/gatewarden.wasm, `make wasm`) in this host: the
// second, independent implementation of the ABI. Skipped when the wasm has
// not been built. Its compiled code is cached in a directory that outlives
// the test run, since a cold compile of the 5 MB module takes tens of seconds.

func gatewardenPlugin(tb testing.TB, limits Limits) (*Plugin, string) {
	return gatewardenPluginVMs(tb, limits, 1)
}

func gatewardenPluginVMs(tb testing.TB, limits Limits, vms int) (*Plugin, string) {
	tb.Helper()
	wasm, err := os.ReadFile("../build/gatewarden.wasm")
	if err != nil {
		tb.Skip("build/gatewarden.wasm not built (make wasm):", err)
	}
	ctx := context.Background()
	rt, err := NewRuntime(ctx, RuntimeConfig{CacheDir: filepath.Join(os.TempDir(), "gatewarden-host-test-cache"), Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	sk := jwt.SigningKey{Alg: "RS256", KeyID: "k1", Key: key}
	jwks, err := jwt.JWKS(sk)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().Unix()
	tok, err := jwt.Sign(sk, []byte(fmt.Sprintf(`{"iss":"http://issuer.test","aud":"gatewarden-demo","azp":"app1","sub":"user1","typ":"Bearer","exp":%d,"iat":%d}`, now+600, now)), "")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := `{"realm":"gatewarden","providers":[{"name":"dev","issuer":"http://issuer.test","audiences":["gatewarden-demo"],"algorithms":["RS256"],"jwks":` + string(jwks) + `}]}`
	p, err := rt.LoadPlugin(ctx, PluginConfig{Name: "gatewarden", RootID: "gatewarden", VMID: "gatewarden", Wasm: wasm,
		Configuration: []byte(cfg), VMs: vms, Limits: limits})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p, tok
}

func TestGatewardenFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the product filter")
	}
	p, tok := gatewardenPlugin(t, Limits{})
	h := p.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client=%s user=%s auth=%t", strings.Join(r.Header.Values("X-Client-Id"), ","),
			r.Header.Get("X-User-Id"), r.Header.Get("Authorization") != "")
	}))
	tests := []struct {
		name, auth string
		code       int
		body       string
	}{
		{"missing token", "", 401, "missing_token"},
		{"malformed token", "Bearer abc.def.ghi", 401, "malformed_token"},
		{"valid token", "Bearer " + tok, 200, "client=app1 user=user1 auth=true"},
		{"valid token, cache hit", "Bearer " + tok, 200, "client=app1 user=user1 auth=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			req.Header.Set("X-Client-Id", "spoofed")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.code || !strings.Contains(string(b), tt.body) {
				t.Fatalf("%d %q, want %d containing %q", rec.Code, b, tt.code, tt.body)
			}
			if tt.code == 401 && !strings.HasPrefix(rec.Header().Get("Www-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("Www-Authenticate"))
			}
		})
	}
}

func benchGatewarden(b *testing.B, limits Limits) {
	p, tok := gatewardenPlugin(b, limits)
	h := p.Middleware(okHandler)
	req := httptest.NewRequest("GET", "/api/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req) // warm the verified-token cache
	if rec.Code != 200 {
		b.Fatalf("status %d", rec.Code)
	}
	benchRequestsWith(b, h, req)
}

// BenchmarkGatewardenCacheHit: the JWT filter on a verified-token cache hit.
func BenchmarkGatewardenCacheHit(b *testing.B) { benchGatewarden(b, Limits{}) }

// BenchmarkGatewardenCacheHitNoTimeLimit: the same with MaxCallbackTime off.
func BenchmarkGatewardenCacheHitNoTimeLimit(b *testing.B) {
	benchGatewarden(b, Limits{MaxCallbackTime: -1})
}
