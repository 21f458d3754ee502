package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// serveConfigs are the `gatewarden serve` configurations (6a-6c), used once build/gatewarden has
// the serve command: the real gateway (routing, metrics, access log off) with the filter.
func serveConfigs(opt *options, backendURL string, cacheOff, cacheOn []byte) []config {
	mk := func(id, label string, plugin []byte) config {
		path := filepath.Join(opt.workDir, "gateway-"+id+".yaml")
		return config{ID: id, Label: label, Group: "go", Sets: setsFor(plugin),
			Cmd: "build/gatewarden serve -log-level warn -config build/bench/gateway-" + id + ".yaml",
			start: func() (*proc, string, error) {
				port, admin := freePort(), freePort()
				if err := os.WriteFile(path, gatewayYAML(opt, port, admin, backendURL, plugin), 0o644); err != nil {
					return nil, "", err
				}
				p, err := startProc(id, filepath.Join(opt.workDir, id+".log"), nil, opt.gwBin, "serve", "-log-level", "warn", "-config", path)
				if err != nil {
					return nil, "", err
				}
				url := fmt.Sprintf("http://127.0.0.1:%d/", port)
				if plugin != nil {
					p.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", admin)
				}
				if _, err := waitHTTP(opt.ctx, url, nil, 0, 60*time.Second); err != nil {
					p.stop()
					return nil, "", err
				}
				return p, url, nil
			}}
	}
	return []config{
		mk("serve-nofilter", "6a gatewarden serve, no filter", nil),
		mk("serve-nocache", "6b gatewarden serve + filter, cache off", cacheOff),
		mk("serve-cache", fmt.Sprintf("6c gatewarden serve + filter, cache %d", opt.cacheSize), cacheOn),
	}
}

func setsFor(plugin []byte) string {
	if plugin == nil {
		return "one"
	}
	return "all"
}

func gatewayYAML(opt *options, port, admin int, backendURL string, plugin []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "admin:\n  address: 127.0.0.1:%d\naccess_log: false\ncache_dir: %s\n", admin, filepath.Join(opt.workDir, "wazero-cache"))
	fmt.Fprintf(&b, "listeners:\n  - name: bench\n    address: 127.0.0.1:%d\n", port)
	if plugin != nil {
		b.WriteString("    plugins: [gatewarden]\n")
	}
	b.WriteString("    routes:\n      - prefix: /\n        upstream: backend\n")
	fmt.Fprintf(&b, "upstreams:\n  - name: backend\n    urls: [%s]\n", backendURL)
	if plugin != nil {
		fmt.Fprintf(&b, "plugins:\n  - name: gatewarden\n    path: %s\n    root_id: gatewarden\n    vm_id: gatewarden\n    vms: 2\n    configuration: '%s'\n",
			opt.wasmPath, strings.ReplaceAll(string(plugin), "'", "''"))
	}
	return []byte(b.String())
}
