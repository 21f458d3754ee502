package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Envoy configurations, written as JSON files (Envoy reads .json bootstrap files). Every
// listener, admin and cluster is on 127.0.0.1.

type envoyFilter int

const (
	envoyNone envoyFilter = iota
	envoyJWTAuthn
	envoyWasm
)

type envoySpec struct {
	filter      envoyFilter
	jwtCache    int    // jwt_authn jwt_cache_config.jwt_cache_size; 0 = no cache
	pluginJSON  []byte // gatewarden plugin configuration (envoyWasm)
	wasmPath    string
	jwks        []byte
	listen      int
	admin       int
	backendPort int
	jwksCluster bool // add cluster "jwks" -> backend (remote JWKS for the filter)
}

func envoyConfig(s envoySpec) ([]byte, error) {
	addr := func(port int) map[string]any {
		return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
	}
	cluster := func(name string, port int) map[string]any {
		return map[string]any{
			"name": name, "type": "STATIC", "connect_timeout": "2s",
			"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(port)}}},
			}}},
		}
	}
	var filters []any
	switch s.filter {
	case envoyJWTAuthn:
		prov := map[string]any{
			"issuer":             benchIssuer,
			"audiences":          []string{benchAudience},
			"forward":            true,
			"clock_skew_seconds": 60,
			"local_jwks":         map[string]any{"inline_string": string(s.jwks)},
			// the same two identity headers our filter injects
			"claim_to_headers": []any{
				map[string]any{"header_name": "x-client-id", "claim_name": "azp"},
				map[string]any{"header_name": "x-user-id", "claim_name": "sub"},
			},
		}
		if s.jwtCache > 0 {
			prov["jwt_cache_config"] = map[string]any{"jwt_cache_size": s.jwtCache}
		}
		filters = append(filters, map[string]any{
			"name": "envoy.filters.http.jwt_authn",
			"typed_config": map[string]any{
				"@type":     "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
				"providers": map[string]any{"bench": prov},
				"rules": []any{map[string]any{
					"match": map[string]any{"prefix": "/"}, "requires": map[string]any{"provider_name": "bench"},
				}},
			},
		})
	case envoyWasm:
		filters = append(filters, map[string]any{
			"name": "envoy.filters.http.wasm",
			"typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
				"config": map[string]any{
					"name": "gatewarden", "root_id": "gatewarden", "failure_policy": "FAIL_CLOSED",
					"vm_config": map[string]any{
						"vm_id": "gatewarden", "runtime": "envoy.wasm.runtime.v8",
						"code": map[string]any{"local": map[string]any{"filename": s.wasmPath}},
					},
					"configuration": map[string]any{
						"@type": "type.googleapis.com/google.protobuf.StringValue",
						"value": string(s.pluginJSON),
					},
				},
			},
		})
	}
	filters = append(filters, map[string]any{
		"name":         "envoy.filters.http.router",
		"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
	})
	clusters := []any{cluster("backend", s.backendPort)}
	if s.jwksCluster {
		clusters = append(clusters, cluster("jwks", s.backendPort))
	}
	cfg := map[string]any{
		"admin": map[string]any{"address": addr(s.admin)},
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name": "bench", "address": addr(s.listen),
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix": "bench",
						"route_config": map[string]any{"name": "local", "virtual_hosts": []any{map[string]any{
							"name": "api", "domains": []string{"*"},
							"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "backend"}}},
						}}},
						"http_filters": filters,
					},
				}}}},
			}},
			"clusters": clusters,
		},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// startEnvoy writes the config and starts Envoy with `concurrency` workers; it returns once the
// admin interface says LIVE and the listener answers.
func startEnvoy(opt *options, name string, s envoySpec, concurrency int) (*proc, string, error) {
	s.listen, s.admin = freePort(), freePort()
	b, err := envoyConfig(s)
	if err != nil {
		return nil, "", err
	}
	path := fmt.Sprintf("%s/envoy-%s.json", opt.workDir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("envoy "+name, fmt.Sprintf("%s/envoy-%s.log", opt.workDir, name), nil,
		opt.envoyBin, "-c", path, "--concurrency", strconv.Itoa(concurrency),
		"--disable-hot-restart", "-l", "warn")
	if err != nil {
		return nil, "", err
	}
	if _, err := waitHTTP(opt.ctx, fmt.Sprintf("http://127.0.0.1:%d/ready", s.admin), nil, 200, 60*time.Second); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("envoy %s: %w (log: %s)", name, err, p.logf.Name())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", s.listen)
	if _, err := waitHTTP(opt.ctx, url, nil, 0, 10*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}
