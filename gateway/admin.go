package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves /ready, /live, /metrics and /config_dump. Bind it to a
// loopback address: /config_dump shows plugin configurations.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !g.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("live\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, r *http.Request) {
		gen := g.cur.Load()
		if gen == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, err := json.MarshalIndent(gen.dump(), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}

// ConfigDump is the /config_dump document.
type ConfigDump struct {
	Generation uint64         `json:"generation"`
	LoadedAt   time.Time      `json:"loaded_at"`
	Plugins    []PluginStatus `json:"plugins"`
	Config     *Config        `json:"config"`
}

// PluginStatus describes a loaded plugin.
type PluginStatus struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	SHA256   string `json:"sha256"`
	Bytes    int    `json:"bytes"`
	RootID   string `json:"root_id"`
	VMID     string `json:"vm_id"`
	VMs      int    `json:"vms"`
	FailOpen bool   `json:"fail_open"`
	// UsedBy lists "listener prefix" pairs whose chain runs this plugin.
	UsedBy []string `json:"used_by"`
}

func (gen *generation) dump() ConfigDump {
	d := ConfigDump{Generation: gen.id, LoadedAt: gen.loadedAt, Config: gen.cfg, Plugins: []PluginStatus{}}
	for _, p := range gen.plugins {
		ps := PluginStatus{
			Name: p.cfg.Name, Source: p.source, SHA256: p.sha256, Bytes: p.size,
			RootID: p.cfg.RootID, VMID: p.cfg.VMID, VMs: p.cfg.VMs, FailOpen: p.cfg.FailOpen, UsedBy: []string{},
		}
		for _, l := range gen.cfg.Listeners {
			for _, r := range l.Routes {
				for _, n := range append(append([]string{}, l.Plugins...), r.Plugins...) {
					if n == p.cfg.Name {
						ps.UsedBy = append(ps.UsedBy, l.Name+" "+r.Prefix)
					}
				}
			}
		}
		d.Plugins = append(d.Plugins, ps)
	}
	return d
}
