//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/devissuer"
	"github.com/gatewarden/gatewarden/oci"
)

// TestGatewayFromOCI pushes the real filter to a real registry, runs `gatewarden serve` from
// the oci:// reference (by tag and pinned by digest), and checks a wrong pin refuses to start.
func TestGatewayFromOCI(t *testing.T) {
	wasmPath := needFilter(t)
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := needGatewayBinary(t)
	reg := needRegistry(t, "")
	ctx := ctxT(t, 5*time.Minute)
	digest, err := oci.Push(ctx, wasm, reg.Host+"/gatewarden:e2e", oci.PushOptions{})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	iss, err := devissuer.Start(devissuer.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	backend, err := StartBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	plugin := []byte(`{"providers":[{"issuer":"` + iss.URL() + `","audiences":["` + devissuer.DefaultAudience +
		`"],"jwks":` + string(iss.JWKS()) + `}]}`)
	token, err := iss.Mint(nil, "ES256")
	if err != nil {
		t.Fatal(err)
	}

	run := func(name, ref, pin string) (*GatewayServer, error) {
		return StartGateway(ctx, bin, filepath.Join(suite.out, "oci"), name, GatewayConfig{
			KeycloakURL: iss.URL(), BackendURL: backend.URL, WasmPath: ref, WasmSHA256: pin,
			CacheDir: t.TempDir(), PluginConfig: plugin,
		}, 3*time.Minute)
	}
	for _, tc := range []struct{ name, ref string }{
		{"tag", "oci://" + reg.Host + "/gatewarden:e2e"},
		{"digest", "oci://" + reg.Host + "/gatewarden@" + digest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, err := run("oci-"+tc.name, tc.ref, "")
			if err != nil {
				t.Fatalf("gateway from %s: %v", tc.ref, err)
			}
			defer gw.Stop()
			for _, c := range []struct {
				auth string
				want int
			}{{"Bearer " + token, 200}, {"", 401}} {
				req, _ := http.NewRequest("GET", gw.URL()+"/api", nil)
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.want {
					t.Fatalf("status %d, want %d (log %s)", resp.StatusCode, c.want, gw.LogPath())
				}
			}
		})
	}
	t.Run("wrong pin refuses to start", func(t *testing.T) {
		gw, err := run("oci-badpin", "oci://"+reg.Host+"/gatewarden:e2e", strings.Repeat("0", 64))
		if err == nil {
			gw.Stop()
			t.Fatal("the gateway started with a module that does not match its sha256 pin")
		}
		if !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("refused, but the error does not say why: %v", err)
		}
	})
}
