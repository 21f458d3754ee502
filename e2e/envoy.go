package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvoyConfig says how to turn the repo's envoy.yaml into a test variant: only ports, the wasm
// path and the plugin configuration change, so the documented example is what the tests run.
type EnvoyConfig struct {
	Base         []byte // envoy.yaml
	AdminPort    int
	ListenerPort int
	KeycloakAddr string // host:port the "keycloak" cluster points at (the Switch in tests)
	BackendPort  int
	WasmPath     string // absolute path of the filter
	PluginConfig []byte // JSON; nil keeps the one in Base
	// PluginConfigReplace, with PluginConfig nil, edits Base's plugin configuration text:
	// old, new pairs (for example Keycloak's address in the example's issuer).
	PluginConfigReplace []string
	FailurePolicy       string // "" keeps Base's
}

// RenderEnvoyConfig patches Base and returns the YAML. It fails when envoy.yaml no longer has
// the shape it documents (admin, one listener with the wasm filter, clusters keycloak and backend).
func RenderEnvoyConfig(c EnvoyConfig) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(c.Base, &doc); err != nil {
		return nil, fmt.Errorf("envoy.yaml: %w", err)
	}
	set := func(m any, path []string, v any) error {
		cur := m
		for i, k := range path {
			mm, ok := cur.(map[string]any)
			if !ok {
				return fmt.Errorf("envoy.yaml: %v is not a mapping", path[:i])
			}
			if i == len(path)-1 {
				if _, ok := mm[k]; !ok {
					return fmt.Errorf("envoy.yaml: no %v", path)
				}
				mm[k] = v
				return nil
			}
			cur = mm[k]
		}
		return nil
	}
	get := func(m any, path ...string) any {
		cur := m
		for _, k := range path {
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = mm[k]
		}
		return cur
	}
	if err := set(doc, []string{"admin", "address", "socket_address", "port_value"}, c.AdminPort); err != nil {
		return nil, err
	}
	listeners, _ := get(doc, "static_resources", "listeners").([]any)
	if len(listeners) != 1 {
		return nil, fmt.Errorf("envoy.yaml: want exactly one listener, have %d", len(listeners))
	}
	if err := set(listeners[0], []string{"address", "socket_address", "port_value"}, c.ListenerPort); err != nil {
		return nil, err
	}
	found := false
	chains, _ := get(listeners[0], "filter_chains").([]any)
	for _, ch := range chains {
		nfs, _ := get(ch, "filters").([]any)
		for _, nf := range nfs {
			hfs, _ := get(nf, "typed_config", "http_filters").([]any)
			for _, hf := range hfs {
				if get(hf, "name") != "envoy.filters.http.wasm" {
					continue
				}
				found = true
				cfg := []string{"typed_config", "config"}
				if err := set(hf, append(cfg, "vm_config", "code", "local", "filename"), c.WasmPath); err != nil {
					return nil, err
				}
				if c.PluginConfig != nil {
					if err := set(hf, append(cfg, "configuration", "value"), string(c.PluginConfig)); err != nil {
						return nil, err
					}
				} else if len(c.PluginConfigReplace) > 0 {
					v, _ := get(hf, append(cfg, "configuration", "value")...).(string)
					if v == "" || len(c.PluginConfigReplace)%2 != 0 {
						return nil, fmt.Errorf("envoy.yaml: no plugin configuration value to edit, or odd replacement list")
					}
					v = strings.NewReplacer(c.PluginConfigReplace...).Replace(v)
					if err := set(hf, append(cfg, "configuration", "value"), v); err != nil {
						return nil, err
					}
				}
				if c.FailurePolicy != "" {
					if err := set(hf, append(cfg, "failure_policy"), c.FailurePolicy); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("envoy.yaml: no envoy.filters.http.wasm filter in the listener")
	}
	host, portStr, err := splitHostPort(c.KeycloakAddr)
	if err != nil {
		return nil, err
	}
	kcPort, _ := strconv.Atoi(portStr)
	clusters, _ := get(doc, "static_resources", "clusters").([]any)
	endpoints := map[string][2]any{"keycloak": {host, kcPort}, "backend": {"127.0.0.1", c.BackendPort}}
	for _, cl := range clusters {
		name, _ := get(cl, "name").(string)
		ep, ok := endpoints[name]
		if !ok {
			continue
		}
		delete(endpoints, name)
		eps, _ := get(cl, "load_assignment", "endpoints").([]any)
		if len(eps) != 1 {
			return nil, fmt.Errorf("envoy.yaml: cluster %s: want one locality", name)
		}
		lbs, _ := get(eps[0], "lb_endpoints").([]any)
		if len(lbs) != 1 {
			return nil, fmt.Errorf("envoy.yaml: cluster %s: want one endpoint", name)
		}
		sa := []string{"endpoint", "address", "socket_address"}
		if err := set(lbs[0], append(sa, "address"), ep[0]); err != nil {
			return nil, err
		}
		if err := set(lbs[0], append(sa, "port_value"), ep[1]); err != nil {
			return nil, err
		}
	}
	if len(endpoints) > 0 {
		return nil, fmt.Errorf("envoy.yaml: missing clusters %v", endpoints)
	}
	return yaml.Marshal(doc)
}

func splitHostPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("address %q has no port", addr)
}

// EnvoyServer is a running Envoy.
type EnvoyServer struct {
	URL       string // http://127.0.0.1:LISTENER
	AdminURL  string
	Proc      *Process
	Startup   time.Duration
	ConfigLog string // path of the rendered config
}

// StartEnvoy writes the rendered config to dir/envoy-<name>.yaml and runs Envoy on it with two
// workers, waiting for the admin /ready endpoint (which turns 200 only after the Wasm VMs started).
func StartEnvoy(ctx context.Context, bin, dir, name string, cfg EnvoyConfig, timeout time.Duration) (*EnvoyServer, error) {
	if err := freePorts(&cfg.AdminPort, &cfg.ListenerPort); err != nil {
		return nil, err
	}
	y, err := RenderEnvoyConfig(cfg)
	if err != nil {
		return nil, err
	}
	path, err := writeConfig(dir, "envoy-"+name+".yaml", y)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", path, "--concurrency", "2", "--disable-hot-restart",
		"-l", "info", "--component-log-level", "wasm:debug")
	p, err := StartProcess("envoy-"+name, filepath.Join(dir, "envoy-"+name+".log"), cmd)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	admin := "http://127.0.0.1:" + strconv.Itoa(cfg.AdminPort)
	if err := WaitHTTP(wctx, admin+"/ready", p); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("envoy %s not ready: %w\n%s", name, err, p.Tail(40))
	}
	return &EnvoyServer{
		URL: "http://127.0.0.1:" + strconv.Itoa(cfg.ListenerPort), AdminURL: admin,
		Proc: p, Startup: time.Since(p.Started), ConfigLog: path,
	}, nil
}

// Stop ends Envoy.
func (e *EnvoyServer) Stop() { e.Proc.Stop(10 * time.Second) }
