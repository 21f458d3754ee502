package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Gate is a gateway under test that runs the Gatewarden filter in front of the echo backend.
type Gate interface {
	Name() string // "envoy" or "gatewarden"
	URL() string  // http://127.0.0.1:PORT of its listener
	LogPath() string
	Stop()
}

// envoyGate adapts EnvoyServer to Gate (its URL is a field, so it cannot also be a method).
type envoyGate struct{ *EnvoyServer }

func (g envoyGate) Name() string    { return "envoy" }
func (g envoyGate) URL() string     { return g.EnvoyServer.URL }
func (g envoyGate) LogPath() string { return g.Proc.LogPath }

// AsGate returns e as a Gate.
func (e *EnvoyServer) AsGate() Gate { return envoyGate{e} }

// GatewayConfig describes a `gatewarden serve` run equivalent to envoy.yaml: one listener, the
// filter on every route, the backend and Keycloak as named upstreams.
type GatewayConfig struct {
	AdminPort    int
	ListenerPort int
	KeycloakURL  string // base URL of the "keycloak" upstream (the Switch in tests)
	BackendURL   string
	WasmPath     string // a file, or oci://REGISTRY/REPO:TAG or @sha256:...
	WasmSHA256   string // optional pin of the module (the plugin's sha256 field)
	CacheDir     string // optional cache_dir (wazero code and oci pulls)
	PluginConfig []byte // the same JSON Envoy gets
}

// RenderGatewayConfig returns the gateway YAML (format: gateway/config.go, docs/CONFIG.md).
func RenderGatewayConfig(c GatewayConfig) ([]byte, error) {
	doc := map[string]any{
		"admin":      map[string]any{"address": "127.0.0.1:" + strconv.Itoa(c.AdminPort)},
		"access_log": true,
		"listeners": []any{map[string]any{
			"name":    "e2e",
			"address": "127.0.0.1:" + strconv.Itoa(c.ListenerPort),
			"plugins": []any{"gatewarden"},
			"routes":  []any{map[string]any{"prefix": "/", "upstream": "backend"}},
		}},
		"upstreams": []any{
			map[string]any{"name": "backend", "urls": []any{c.BackendURL}},
			map[string]any{"name": "keycloak", "urls": []any{c.KeycloakURL}},
		},
		"plugins": []any{map[string]any{
			"name":          "gatewarden",
			"path":          c.WasmPath,
			"root_id":       "gatewarden",
			"vm_id":         "gatewarden",
			"vms":           2, // like Envoy's two workers
			"fail_open":     false,
			"configuration": string(c.PluginConfig),
			"upstreams":     []any{"keycloak"},
		}},
	}
	if c.WasmSHA256 != "" {
		doc["plugins"].([]any)[0].(map[string]any)["sha256"] = c.WasmSHA256
	}
	if c.CacheDir != "" {
		doc["cache_dir"] = c.CacheDir
	}
	return yaml.Marshal(doc)
}

// GatewayServer is a running `gatewarden serve`.
type GatewayServer struct {
	url     string
	Admin   string
	Proc    *Process
	Startup time.Duration
}

// Name implements Gate.
func (g *GatewayServer) Name() string { return "gatewarden" }

// URL implements Gate.
func (g *GatewayServer) URL() string { return g.url }

// LogPath implements Gate.
func (g *GatewayServer) LogPath() string { return g.Proc.LogPath }

// Stop implements Gate.
func (g *GatewayServer) Stop() { g.Proc.Stop(10 * time.Second) }

// StartGateway writes dir/gatewarden-<name>.yaml and runs `bin serve -config FILE`, waiting for
// the admin /ready endpoint.
func StartGateway(ctx context.Context, bin, dir, name string, cfg GatewayConfig, timeout time.Duration) (*GatewayServer, error) {
	if err := freePorts(&cfg.AdminPort, &cfg.ListenerPort); err != nil {
		return nil, err
	}
	y, err := RenderGatewayConfig(cfg)
	if err != nil {
		return nil, err
	}
	path, err := writeConfig(dir, "gatewarden-"+name+".yaml", y)
	if err != nil {
		return nil, err
	}
	p, err := StartProcess("gatewarden-"+name, filepath.Join(dir, "gatewarden-"+name+".log"),
		exec.Command(bin, "serve", "-config", path))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	admin := "http://127.0.0.1:" + strconv.Itoa(cfg.AdminPort)
	if err := WaitHTTP(wctx, admin+"/ready", p); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("gatewarden %s not ready: %w\n%s", name, err, p.Tail(40))
	}
	return &GatewayServer{url: "http://127.0.0.1:" + strconv.Itoa(cfg.ListenerPort), Admin: admin, Proc: p, Startup: time.Since(p.Started)}, nil
}

// freePorts fills an unset admin/listener port pair with free loopback ports.
func freePorts(admin, listener *int) error {
	if *admin != 0 && *listener != 0 {
		return nil
	}
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	*admin, *listener = ports[0], ports[1]
	return nil
}

// writeConfig writes a rendered peer configuration to dir/file and returns its path.
func writeConfig(dir, file string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, file)
	return path, os.WriteFile(path, data, 0o644)
}
