// Command proxy is the Go side of the benchmarks: a bare reverse proxy (no -wasm), or the same
// reverse proxy behind a proxy-wasm plugin run by our host/ package (with -wasm). Both share one
// handler and transport, so the difference between them is the filter and the host.
//
// -pprof serves net/http/pprof on a second loopback listener so the benchmark can take a CPU
// profile of the host process while load runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof" // only served on the -pprof listener
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/host"
)

type upstreams map[string]string

func (u upstreams) String() string { return fmt.Sprint(map[string]string(u)) }
func (u upstreams) Set(s string) error {
	name, base, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=http://127.0.0.1:port, got %q", s)
	}
	u[name] = base
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	backend := flag.String("backend", "", "backend base URL, e.g. http://127.0.0.1:9000 (required)")
	wasmPath := flag.String("wasm", "", "proxy-wasm module; empty = bare reverse proxy")
	configPath := flag.String("config", "", "plugin configuration file (JSON)")
	vms := flag.Int("vms", 0, "VM instances (0 = GOMAXPROCS)")
	cacheDir := flag.String("cache-dir", "", "wazero compilation cache directory")
	callbackLimit := flag.Duration("callback-limit", 0, "host Limits.MaxCallbackTime (0 = default, <0 = off)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address")
	ups := upstreams{}
	flag.Var(ups, "upstream", "proxy_http_call upstream name=baseURL (repeatable)")
	flag.Parse()

	target, err := url.Parse(*backend)
	if err != nil || target.Host == "" {
		log.Fatalf("proxy: -backend %q: want http://127.0.0.1:port", *backend)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	var handler http.Handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: transport,
	}

	ctx := context.Background()
	if *wasmPath != "" {
		wasm, err := os.ReadFile(*wasmPath)
		if err != nil {
			log.Fatalf("proxy: %v", err)
		}
		var cfg []byte
		if *configPath != "" {
			if cfg, err = os.ReadFile(*configPath); err != nil {
				log.Fatalf("proxy: %v", err)
			}
		}
		start := time.Now()
		rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: *cacheDir, Logger: logger})
		if err != nil {
			log.Fatalf("proxy: %v", err)
		}
		pl, err := rt.LoadPlugin(ctx, host.PluginConfig{
			Name: "gatewarden", RootID: "gatewarden", VMID: "gatewarden",
			Wasm: wasm, Configuration: cfg, VMs: *vms, Upstreams: ups, Logger: logger,
			Limits: host.Limits{MaxCallbackTime: *callbackLimit},
		})
		if err != nil {
			log.Fatalf("proxy: loading %s: %v", *wasmPath, err)
		}
		fmt.Printf("loaded %s in %s\n", *wasmPath, time.Since(start))
		handler = pl.Middleware(handler)
	}

	if *pprofAddr != "" {
		pln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			log.Fatalf("proxy: pprof: %v", err)
		}
		go func() { _ = http.Serve(pln, http.DefaultServeMux) }()
		fmt.Printf("pprof %s\n", pln.Addr())
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		_ = srv.Close()
	}()
	fmt.Printf("listening %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("proxy: %v", err)
	}
}
