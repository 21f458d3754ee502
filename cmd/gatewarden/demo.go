package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatewarden/gatewarden/devissuer"
	"github.com/gatewarden/gatewarden/gateway"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	wasm, listen, issuer, backend, admin, keyDir, cacheDir string
	vms                                                    int
}

// runDemo implements `gatewarden demo`: the dev issuer, the echo backend and the
// gateway running the filter, wired together, until SIGINT/SIGTERM.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.StringVar(&o.wasm, "wasm", "build/gatewarden.wasm", "the filter module (make wasm builds it)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "gateway address")
	fs.StringVar(&o.issuer, "issuer", "127.0.0.1:9090", "dev issuer address (loopback only)")
	fs.StringVar(&o.backend, "backend", "127.0.0.1:9091", "echo backend address")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9901", "admin address (/ready, /metrics, /config_dump); \"\" for none")
	fs.StringVar(&o.keyDir, "keys", "", "directory keeping the dev issuer's keys across runs (\"\" = fresh keys)")
	fs.IntVar(&o.vms, "vms", 0, "filter VMs (0 = one per CPU)")
	fs.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "wazero compilation cache, so later starts skip compiling the filter (\"\" = none)")
	logger := logFlags(fs, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.wasm); err != nil {
		return fmt.Errorf("filter module: %w; build it with `make wasm` or pass --wasm FILE", err)
	}

	iss, err := devissuer.Start(devissuer.Config{Addr: o.issuer, KeyDir: o.keyDir, Logger: log})
	if err != nil {
		return err
	}
	defer iss.Close()

	backendLn, err := net.Listen("tcp", o.backend)
	if err != nil {
		return fmt.Errorf("echo backend: %w", err)
	}
	backend := &http.Server{Handler: gateway.EchoHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := backend.Serve(backendLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("echo backend", "err", err)
		}
	}()
	defer backend.Close()

	cfg, err := demoConfig(o, iss, "http://"+backendLn.Addr().String())
	if err != nil {
		return err
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := g.Start(); err != nil {
		_ = g.Shutdown(context.Background())
		return err
	}
	gw := "http://" + g.Addr("demo")
	if err := selfCheck(iss, gw); err != nil {
		log.Warn("demo self-check failed; the filter may not be working", "err", err)
	}
	printDemo(stdout, o, iss, gw, backendLn.Addr().String(), g.AdminAddr())

	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping the demo")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.Shutdown(sctx)
}

// demoConfig is the gateway config of the demo: everything under / goes through
// the filter to the echo backend; the filter trusts the dev issuer's keys inline.
func demoConfig(o demoOptions, iss *devissuer.Issuer, backendURL string) (*gateway.Config, error) {
	filterConfig, err := json.Marshal(map[string]any{
		"realm":            "gatewarden",
		"client_id_header": "x-client-id",
		"user_id_header":   "x-user-id",
		"providers": []any{map[string]any{
			"name":       "dev",
			"issuer":     iss.URL(),
			"audiences":  []string{devissuer.DefaultAudience},
			"algorithms": []string{"RS256", "ES256"},
			"jwks":       json.RawMessage(iss.JWKS()),
			"clock_skew": "30s",
		}},
	})
	if err != nil {
		return nil, err
	}
	wasm, err := filepath.Abs(o.wasm)
	if err != nil {
		return nil, err
	}
	return &gateway.Config{
		Admin:    gateway.Admin{Address: o.admin},
		CacheDir: o.cacheDir,
		Listeners: []gateway.Listener{{
			Name:    "demo",
			Address: o.listen,
			Routes:  []gateway.Route{{Prefix: "/", Upstream: "echo", Plugins: []string{"gatewarden"}}},
		}},
		Upstreams: []gateway.Upstream{{Name: "echo", URLs: []string{backendURL}}},
		Plugins: []gateway.Plugin{{
			Name:          "gatewarden",
			Path:          wasm,
			RootID:        "gatewarden",
			VMs:           o.vms,
			Configuration: gateway.PluginData{Bytes: filterConfig},
		}},
	}, nil
}

// selfCheck sends one request with a fresh token and one without through the
// gateway, so a broken setup is reported at start, not at the first curl.
func selfCheck(iss *devissuer.Issuer, gw string) error {
	tok, err := iss.Mint(nil, "RS256")
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		auth string
		want int
	}{{"Bearer " + tok, http.StatusOK}, {"", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, gw+"/self-check", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			return fmt.Errorf("GET /self-check (token: %v) = %d, want %d", tc.auth != "", resp.StatusCode, tc.want)
		}
	}
	return nil
}

func printDemo(w io.Writer, o demoOptions, iss *devissuer.Issuer, gw, backend, admin string) {
	fmt.Fprintf(w, `
Gatewarden demo is running (Ctrl-C stops it).

  gateway       %s   (filter %s)
  dev issuer    %s   (clients demo-app/demo-secret, demo-admin/admin-secret, other-app/other-secret; user alice/alice)
  echo backend  http://%s
`, gw, o.wasm, iss.URL(), backend)
	if admin != "" {
		fmt.Fprintf(w, "  admin         http://%s/config_dump  /metrics  /ready\n", admin)
	}
	fmt.Fprintf(w, `
Get a token from the dev issuer and call the API through the gateway (paste this):

TOKEN=$(curl -s -H 'Accept: text/plain' -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-secret %[1]s); curl -s -H "Authorization: Bearer $TOKEN" %[2]s/api/hello

More:
  curl -si %[2]s/api/hello                                    # no token: 401
  curl -si -H "Authorization: Bearer $TOKEN" -H "x-client-id: spoofed" %[2]s/api/hello   # the backend sees the real azp
  curl -s -d grant_type=client_credentials -d client_id=other-app -d client_secret=other-secret %[1]s   # another audience: the gateway answers 401
`, iss.TokenURL(), gw)
}

// defaultCacheDir is the user's cache directory for compiled modules, or "".
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "gatewarden", "wazero")
}
