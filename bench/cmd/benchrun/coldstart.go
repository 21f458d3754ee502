package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/host"
)

// coldRow is one cold-start measurement (milliseconds; median of the repeats).
type coldRow struct {
	What string
	MS   float64
	Note string
}

type perVMRow struct {
	Host    string
	N       int
	RSS1KB  int64
	RSSNKB  int64
	PerVMKB float64
	Note    string
}

func median(xs []time.Duration) time.Duration {
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	return xs[len(xs)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// coldStart measures compile (uncached / cached) in-process through host/, and process start to
// first authorized request (JWKS fetched through the filter's HTTP callout) for our host and Envoy.
func coldStart(opt *options, backendURL string, bePort int, jwks []byte) []coldRow {
	var rows []coldRow
	ctx := context.Background()
	wasm, err := os.ReadFile(opt.wasmPath)
	if err != nil {
		return []coldRow{{What: "read module", Note: err.Error()}}
	}
	cfg := pluginConfig(jwks, opt.cacheSize, "", "")
	load := func(cacheDir string, vms int) (time.Duration, error) {
		start := time.Now()
		rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: cacheDir, Logger: quiet})
		if err != nil {
			return 0, err
		}
		defer rt.Close(ctx)
		pl, err := rt.LoadPlugin(ctx, host.PluginConfig{Name: "g", RootID: "gatewarden", VMID: "cold",
			Wasm: wasm, Configuration: cfg, VMs: vms})
		if err != nil {
			return 0, err
		}
		d := time.Since(start)
		_ = pl.Close(ctx)
		return d, nil
	}
	// Uncached compiles take seconds and vary little: one of each; cached loads: median of 3.
	const reps = 3
	var cached, cached2 []time.Duration
	dir, _ := os.MkdirTemp(opt.workDir, "wazero-cold-")
	defer os.RemoveAll(dir)
	unc, err := load(dir, 1)
	if err != nil {
		return append(rows, coldRow{What: "host.LoadPlugin", Note: err.Error()})
	}
	for i := 0; i < reps; i++ {
		d, _ := load(dir, 1)
		cached = append(cached, d)
		d, _ = load(dir, 2)
		cached2 = append(cached2, d)
	}
	rows = append(rows,
		coldRow{"host (in process): NewRuntime + LoadPlugin, 1 VM, compile uncached (empty cache dir)", ms(unc), "wazero optimizing compiler; one run"},
		coldRow{"host (in process): NewRuntime + LoadPlugin, 1 VM, compile cached (warm cache dir)", ms(median(cached)), "median of 3"},
		coldRow{"host (in process): NewRuntime + LoadPlugin, 2 VMs, compile cached", ms(median(cached2)), "median of 3"},
	)

	tok := firstToken(opt, "rs256-1")
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	authority := fmt.Sprintf("127.0.0.1:%d", bePort)
	remote := pluginConfig(nil, opt.cacheSize, backendURL+"/jwks", authority)
	remotePath := filepath.Join(opt.workDir, "plugin-remote.json")
	_ = os.WriteFile(remotePath, remote, 0o644)

	// Our host as a process: start -> listening, then the first authorized request.
	goStart := func(cacheDir string) (ready, first, second time.Duration, err error) {
		p, err := startProc("cold-host", filepath.Join(opt.workDir, "cold-host.log"), nil, opt.proxyBin,
			"-backend", backendURL, "-wasm", opt.wasmPath, "-config", remotePath, "-vms", "2",
			"-cache-dir", cacheDir, "-upstream", "jwks="+backendURL)
		if err != nil {
			return
		}
		defer p.stop()
		addr, err := p.waitLine("listening ", 60*time.Second)
		if err != nil {
			return
		}
		ready = time.Since(p.started)
		first, err = firstOK("http://"+addr+"/", hdr)
		if err != nil {
			return
		}
		second, err = timedGet("http://"+addr+"/", hdr, 200)
		return
	}
	for _, c := range []struct {
		name, dir string
		reps      int
	}{
		{"uncached compile", "", 1}, {"cached compile", filepath.Join(opt.workDir, "wazero-cache"), reps},
	} {
		var rs, fs, ss []time.Duration
		var lastErr error
		for i := 0; i < c.reps; i++ {
			dir := c.dir
			if dir == "" {
				dir, _ = os.MkdirTemp(opt.workDir, "wazero-cold-")
				defer os.RemoveAll(dir)
			}
			r, f, s, err := goStart(dir)
			if err != nil {
				lastErr = err
				continue
			}
			rs, fs, ss = append(rs, r), append(fs, f), append(ss, s)
		}
		if len(rs) == 0 {
			rows = append(rows, coldRow{What: "Go host process (" + c.name + ")", Note: fmt.Sprint(lastErr)})
			continue
		}
		rows = append(rows,
			coldRow{"Go host process, 2 VMs, " + c.name + ": exec -> listening", ms(median(rs)), "bench/cmd/proxy, remote jwks_uri"},
			coldRow{"  then first authorized request answered 200 (keys fetched by the filter at start through the callout)", ms(median(fs)), "RS256 token; retried until 200"},
			coldRow{"  second request (cache hit)", ms(median(ss)), ""},
		)
	}

	// Envoy: no filter, then gatewarden.wasm with remote JWKS through a cluster.
	for _, e := range []struct {
		name string
		spec envoySpec
		reps int
	}{
		{"Envoy, no filter", envoySpec{filter: envoyNone}, reps},
		{"Envoy + gatewarden.wasm (V8), remote jwks_uri", envoySpec{filter: envoyWasm, pluginJSON: remote, jwksCluster: true}, 2},
		{"Envoy + jwt_authn, local JWKS", envoySpec{filter: envoyJWTAuthn, jwks: jwks}, reps},
	} {
		var rs, fs, ss []time.Duration
		var lastErr error
		for i := 0; i < e.reps; i++ {
			s := e.spec
			s.backendPort, s.wasmPath = bePort, opt.wasmPath
			t0 := time.Now()
			p, url, err := startEnvoy(opt, "cold", s, 2)
			if err != nil {
				lastErr = err
				continue
			}
			rs = append(rs, time.Since(t0))
			h := hdr
			f, err := firstOK(url, h)
			if err != nil {
				lastErr = err
				p.stop()
				continue
			}
			sec, _ := timedGet(url, h, 200)
			fs, ss = append(fs, f), append(ss, sec)
			p.stop()
		}
		if len(fs) == 0 {
			rows = append(rows, coldRow{What: e.name, Note: fmt.Sprint(lastErr)})
			continue
		}
		rows = append(rows,
			coldRow{e.name + ", 2 workers: exec -> admin /ready LIVE and a first (tokenless) request answered", ms(median(rs)), "Envoy holds requests until the Wasm VMs are up"},
			coldRow{"  first authorized request answered 200", ms(median(fs)), fmt.Sprintf("median of %d; retried until 200", len(fs))},
			coldRow{"  second request", ms(median(ss)), ""},
		)
	}
	return rows
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// firstOK sends requests until one is answered 200 and returns the time from the first send.
func firstOK(url string, h http.Header) (time.Duration, error) {
	start := time.Now()
	var err error
	for time.Since(start) < 30*time.Second {
		if _, err = timedGet(url, h, 200); err == nil {
			return time.Since(start), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("no 200 within 30 s: %v", err)
}

// timedGet sends one request on a fresh connection and checks the status.
func timedGet(url string, h http.Header, want int) (time.Duration, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = h.Clone()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != want {
		return d, fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	return d, nil
}

func firstToken(opt *options, set string) string {
	b, err := os.ReadFile(filepath.Join(opt.workDir, "tokens", set+".txt"))
	if err != nil {
		log.Fatal(err)
	}
	return strings.SplitN(string(b), "\n", 2)[0]
}

// perVM estimates the memory each extra VM costs: RSS with N VMs minus RSS with 1, over N-1,
// after the same short warm traffic. For Envoy the same difference without a filter is subtracted
// (each Envoy worker costs memory of its own).
func perVM(opt *options, backendURL string, bePort int, jwks []byte, set tokenSet) []perVMRow {
	const n = 5
	warm := func(url string) { _, _ = runWrk(opt, 2*time.Second, url, set.File) }
	cfg := filepath.Join(opt.workDir, "plugin-cache-on.json")
	goRSS := func(vms int) (int64, error) {
		p, err := startProc("pervm", filepath.Join(opt.workDir, "pervm.log"), nil, opt.proxyBin,
			"-backend", backendURL, "-wasm", opt.wasmPath, "-config", cfg, "-vms", fmt.Sprint(vms),
			"-cache-dir", filepath.Join(opt.workDir, "wazero-cache"))
		if err != nil {
			return 0, err
		}
		defer p.stop()
		addr, err := p.waitLine("listening ", 60*time.Second)
		if err != nil {
			return 0, err
		}
		warm("http://" + addr + "/")
		rss, _ := memKB(p.pid())
		return rss, nil
	}
	var rows []perVMRow
	r1, err1 := goRSS(1)
	rn, errn := goRSS(n)
	row := perVMRow{Host: "Go host (host/ on wazero), cache on", N: n, RSS1KB: r1, RSSNKB: rn}
	if err1 != nil || errn != nil {
		row.Note = fmt.Sprint(err1, errn)
	} else {
		row.PerVMKB = float64(rn-r1) / float64(n-1)
	}
	rows = append(rows, row)

	envoyRSS := func(spec envoySpec, workers int) (int64, error) {
		spec.backendPort, spec.jwks, spec.wasmPath = bePort, jwks, opt.wasmPath
		p, url, err := startEnvoy(opt, "pervm", spec, workers)
		if err != nil {
			return 0, err
		}
		defer p.stop()
		warm(url)
		rss, _ := memKB(p.pid())
		return rss, nil
	}
	w1, e1 := envoyRSS(envoySpec{filter: envoyWasm, pluginJSON: pluginConfig(jwks, opt.cacheSize, "", "")}, 1)
	wn, e2 := envoyRSS(envoySpec{filter: envoyWasm, pluginJSON: pluginConfig(jwks, opt.cacheSize, "", "")}, n)
	b1, e3 := envoyRSS(envoySpec{filter: envoyNone}, 1)
	bn, e4 := envoyRSS(envoySpec{filter: envoyNone}, n)
	erow := perVMRow{Host: "Envoy + gatewarden.wasm (V8), cache on; minus Envoy without filter", N: n, RSS1KB: w1, RSSNKB: wn}
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		erow.Note = fmt.Sprint(e1, e2, e3, e4)
	} else {
		erow.PerVMKB = float64((wn-w1)-(bn-b1)) / float64(n-1)
		erow.Note = fmt.Sprintf("no filter: %d -> %d KiB", b1, bn)
	}
	return append(rows, erow)
}

// fetchProfile takes a CPU profile from the host's pprof listener and writes the top functions
// next to it (profile.txt) with go tool pprof.
func fetchProfile(addr string, d time.Duration, path string) error {
	secs := int(d.Seconds())
	if secs < 1 {
		secs = 1
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pprof: %v: %s", err, out)
	}
	cum, _ := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", path).CombinedOutput()
	return os.WriteFile(strings.TrimSuffix(path, ".pprof")+".txt", append(append(out, "\n--- by cumulative ---\n"...), cum...), 0o644)
}
