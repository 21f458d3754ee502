// Command benchrun runs the side-by-side benchmarks of issue 8 and writes their tables into
// docs/BENCHMARKS.md (between <!-- bench:begin --> and <!-- bench:end -->) and a bar chart into
// docs/bench.png. bench/run.sh builds everything and calls it; `make bench` calls bench/run.sh.
//
// Every configuration sits in front of the same backend (bench/cmd/backend), gets the same token
// sets and the same load generators: wrk (closed loop, saturation RPS) and our open-loop Go
// generator (fixed rate, p50/p99; wrk2 is not packaged in Debian). CPU time per request comes from
// /proc/<pid>/stat of the proxy process before and after the wrk run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type options struct {
	ctx        context.Context
	repo       string
	workDir    string // build/bench
	duration   time.Duration
	warmup     time.Duration
	rate       float64
	rateDur    time.Duration
	seqDur     time.Duration
	threads    int
	conns      int
	distinct   int
	cacheSize  int
	only       *regexp.Regexp
	profile    bool
	luaScript  string
	envoyBin   string
	wasmPath   string
	proxyBin   string
	backendBin string
	gwBin      string // build/gatewarden when it has `serve`
	outMD      string
	outPNG     string
	outJSON    string
}

// config is one proxy configuration of the matrix.
type config struct {
	ID    string // stable id, also used by -only
	Label string
	Group string // envoy | go | base
	Sets  string // "all" or "one": one = only the first token set (no JWT work)
	Cmd   string // how it was started, for the report
	start func() (*proc, string, error)
}

type runResult struct {
	Set          string
	Wrk          wrkResult
	RPS          float64
	CPUPerReqUS  float64 // proxy process (or the backend itself for the bare backend)
	BackendCPUUS float64
	Open         openResult
	Seq          wrkResult // one connection, closed loop (runSequential)
	// FilterP50US is the median of proxywasm_filter_duration_seconds (the time each request
	// spent in the filter's callbacks, measured by the host) over the sequential run, and
	// FilterP50SatUS over the saturation run; 0 when the gateway exposes no such metric.
	FilterP50US, FilterP50SatUS float64
	StatusOK                    bool
	Note                        string
	Profile                     string
	Load1                       float64 // load average when the run started
	OtherPct                    float64 // CPU used by processes outside the benchmark during the wrk run, % of all cores
}

type configResult struct {
	ID, Label, Group, Cmd string
	RSSKB, HWMKB          int64
	Runs                  []runResult
	Err                   string
}

type results struct {
	Started  time.Time
	Elapsed  time.Duration
	Machine  map[string]string
	Options  map[string]string
	WrkCmd   string
	Sets     []tokenSet
	Configs  []*configResult
	Cold     []coldRow
	PerVM    []perVMRow
	ModuleKB float64
}

func main() {
	opt := &options{ctx: context.Background()}
	var only string
	flag.StringVar(&opt.repo, "repo", ".", "repository root")
	flag.DurationVar(&opt.duration, "d", 5*time.Second, "wrk duration per run (whole seconds)")
	flag.DurationVar(&opt.warmup, "warmup", 1*time.Second, "wrk warm-up before each run (discarded)")
	flag.Float64Var(&opt.rate, "rate", 500, "open-loop fixed rate (requests/s); lowered to half the saturation RPS when that is less")
	flag.DurationVar(&opt.rateDur, "rate-d", 2*time.Second, "open-loop duration per run")
	flag.DurationVar(&opt.seqDur, "seq-d", 3*time.Second, "sequential (wrk -t1 -c1) latency run per set; 0 skips it")
	flag.IntVar(&opt.threads, "t", 2, "wrk threads")
	flag.IntVar(&opt.conns, "c", 8, "wrk connections")
	flag.IntVar(&opt.distinct, "distinct", 10000, "distinct tokens in the cache-defeating sets")
	flag.IntVar(&opt.cacheSize, "cache", 1000, "verified-token cache size for both Envoy jwt_cache_config and our filter (cache on)")
	flag.StringVar(&only, "only", "", "regexp of configuration ids to run (default all)")
	flag.BoolVar(&opt.profile, "profile", false, "take CPU profiles of the Go host process during gateway runs (build/bench/profiles)")
	flag.StringVar(&opt.envoyBin, "envoy", "", "Envoy binary (bench/run.sh finds it)")
	flag.StringVar(&opt.outMD, "md", "docs/BENCHMARKS.md", "markdown file to update between the bench markers")
	flag.StringVar(&opt.outPNG, "png", "docs/bench.png", "chart output")
	var render bool
	flag.BoolVar(&render, "render", false, "only rewrite the markdown and chart from build/bench/results.json")
	flag.Parse()
	if only != "" {
		opt.only = regexp.MustCompile(only)
	}
	abs, err := filepath.Abs(opt.repo)
	if err != nil {
		log.Fatal(err)
	}
	opt.repo = abs
	opt.workDir = filepath.Join(abs, "build/bench")
	opt.luaScript = filepath.Join(abs, "bench/tokens.lua")
	opt.wasmPath = filepath.Join(abs, "build/gatewarden.wasm")
	opt.proxyBin = filepath.Join(opt.workDir, "bin/proxy")
	opt.backendBin = filepath.Join(opt.workDir, "bin/backend")
	opt.outJSON = filepath.Join(opt.workDir, "results.json")
	opt.outMD = filepath.Join(abs, opt.outMD)
	opt.outPNG = filepath.Join(abs, opt.outPNG)
	if gw := filepath.Join(abs, "build/gatewarden"); hasServe(gw) {
		opt.gwBin = gw
	}
	if err := os.MkdirAll(filepath.Join(opt.workDir, "profiles"), 0o755); err != nil {
		log.Fatal(err)
	}
	var res *results
	if render {
		// Rewrite the markdown and chart from the last run's results.json (no measuring).
		b, err := os.ReadFile(opt.outJSON)
		if err != nil {
			log.Fatal(err)
		}
		res = &results{}
		if err := json.Unmarshal(b, res); err != nil {
			log.Fatal(err)
		}
	} else {
		if res, err = run(opt); err != nil {
			log.Fatal(err)
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(opt.outJSON, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	sortConfigs(res)
	if err := writeReport(opt, res); err != nil {
		log.Fatal(err)
	}
	if err := writeChart(opt, res); err != nil {
		log.Fatal(err)
	}
	log.Printf("done in %s: %s, %s, %s", res.Elapsed.Round(time.Second), opt.outMD, opt.outPNG, opt.outJSON)
}

// configOrder is the order of the report's rows.
var configOrder = []string{"backend", "envoy", "envoy-jwt", "envoy-jwt-cache", "envoy-wasm-nocache",
	"envoy-wasm-cache", "goproxy", "serve-nofilter", "serve-nocache", "serve-cache", "host-nocache",
	"host-cache", "host-cache-nolimit"}

func sortConfigs(res *results) {
	rank := func(id string) int {
		for i, c := range configOrder {
			if c == id {
				return i
			}
		}
		return len(configOrder)
	}
	sort.SliceStable(res.Configs, func(i, j int) bool { return rank(res.Configs[i].ID) < rank(res.Configs[j].ID) })
}

// hasServe reports whether the gatewarden CLI exists and knows `serve`.
func hasServe(bin string) bool {
	if _, err := os.Stat(bin); err != nil {
		return false
	}
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	return strings.Contains(string(out), "-config")
}

// pluginConfig is the gatewarden filter configuration used everywhere (Envoy and Go hosts).
func pluginConfig(jwks []byte, cacheEntries int, remoteJWKS, authority string) []byte {
	prov := map[string]any{
		"name": "bench", "issuer": benchIssuer, "audiences": []string{benchAudience},
		"algorithms": []string{"RS256", "ES256"}, "clock_skew": "60s",
	}
	if remoteJWKS != "" {
		prov["jwks_uri"] = remoteJWKS
		prov["upstream"] = "jwks"
		prov["authority"] = authority
	} else {
		prov["jwks"] = json.RawMessage(jwks)
	}
	b, err := json.Marshal(map[string]any{
		"realm": "bench", "providers": []any{prov},
		"cache": map[string]any{"max_entries": cacheEntries},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func (o *options) want(id string) bool { return o.only == nil || o.only.MatchString(id) }

func run(opt *options) (*results, error) {
	res := &results{Started: time.Now().UTC(), Machine: machine(opt), Options: map[string]string{
		"wrk duration": opt.duration.String(), "warm-up": opt.warmup.String(),
		"wrk threads/connections": fmt.Sprintf("%d/%d", opt.threads, opt.conns),
		"open-loop rate":          fmt.Sprintf("%.0f/s for %s", opt.rate, opt.rateDur),
		"cache size (cache on)":   fmt.Sprint(opt.cacheSize),
	}}
	log.Printf("token sets in %s", filepath.Join(opt.workDir, "tokens"))
	sets, jwks, err := tokenSets(filepath.Join(opt.workDir, "tokens"), opt.distinct)
	if err != nil {
		return nil, err
	}
	res.Sets = sets
	res.WrkCmd = strings.ReplaceAll(strings.Join(wrkArgs(opt, opt.duration, "URL", "TOKENFILE"), " "), opt.repo+"/", "")
	if st, err := os.Stat(opt.wasmPath); err == nil {
		res.ModuleKB = float64(st.Size()) / 1024
	}

	jwksFile := filepath.Join(opt.workDir, "tokens/jwks.json")
	be, err := startProc("backend", filepath.Join(opt.workDir, "backend.log"), nil, opt.backendBin, "-jwks", jwksFile)
	if err != nil {
		return nil, err
	}
	defer be.stop()
	beAddr, err := be.waitLine("listening ", 10*time.Second)
	if err != nil {
		return nil, err
	}
	backendURL := "http://" + beAddr
	var bePort int
	fmt.Sscanf(beAddr[strings.LastIndexByte(beAddr, ':')+1:], "%d", &bePort)

	cfgPath := func(name string, b []byte) string {
		p := filepath.Join(opt.workDir, "plugin-"+name+".json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			log.Fatal(err)
		}
		return p
	}
	cacheOff := pluginConfig(jwks, 0, "", "")
	cacheOn := pluginConfig(jwks, opt.cacheSize, "", "")
	startGo := func(name string, args ...string) func() (*proc, string, error) {
		return func() (*proc, string, error) {
			argv := append([]string{opt.proxyBin, "-backend", backendURL}, args...)
			p, err := startProc(name, filepath.Join(opt.workDir, name+".log"), nil, argv...)
			if err != nil {
				return nil, "", err
			}
			addr, err := p.waitLine("listening ", 60*time.Second)
			if err != nil {
				p.stop()
				return nil, "", err
			}
			return p, "http://" + addr + "/", nil
		}
	}
	envoy := func(name string, s envoySpec) func() (*proc, string, error) {
		return func() (*proc, string, error) {
			s.backendPort, s.jwks, s.wasmPath = bePort, jwks, opt.wasmPath
			return startEnvoy(opt, name, s, 2)
		}
	}
	wazeroCache := filepath.Join(opt.workDir, "wazero-cache")
	hostArgs := func(cfg string, pprof bool) []string {
		a := []string{"-wasm", opt.wasmPath, "-config", cfg, "-vms", "2", "-cache-dir", wazeroCache}
		if pprof {
			a = append(a, "-pprof", "127.0.0.1:0")
		}
		return a
	}
	offPath, onPath := cfgPath("cache-off", cacheOff), cfgPath("cache-on", cacheOn)
	envoyCmd := opt.envoyBin + " -c build/bench/envoy-ID.json --concurrency 2 --disable-hot-restart -l warn"
	configs := []config{
		{ID: "backend", Label: "1 bare backend", Group: "base", Sets: "one", Cmd: "build/bench/bin/backend",
			start: func() (*proc, string, error) { return be, backendURL + "/", nil }},
		{ID: "envoy", Label: "2 Envoy, no filter", Group: "envoy", Sets: "one", Cmd: envoyCmd,
			start: envoy("envoy", envoySpec{filter: envoyNone})},
		{ID: "envoy-jwt", Label: "3a Envoy + jwt_authn", Group: "envoy", Sets: "all", Cmd: envoyCmd,
			start: envoy("envoy-jwt", envoySpec{filter: envoyJWTAuthn})},
		{ID: "envoy-jwt-cache", Label: fmt.Sprintf("3b Envoy + jwt_authn, cache %d", opt.cacheSize), Group: "envoy", Sets: "all", Cmd: envoyCmd,
			start: envoy("envoy-jwt-cache", envoySpec{filter: envoyJWTAuthn, jwtCache: opt.cacheSize})},
		{ID: "envoy-wasm-nocache", Label: "4a Envoy + gatewarden.wasm, cache off", Group: "envoy", Sets: "all", Cmd: envoyCmd,
			start: envoy("envoy-wasm-nocache", envoySpec{filter: envoyWasm, pluginJSON: cacheOff})},
		{ID: "envoy-wasm-cache", Label: fmt.Sprintf("4b Envoy + gatewarden.wasm, cache %d", opt.cacheSize), Group: "envoy", Sets: "all", Cmd: envoyCmd,
			start: envoy("envoy-wasm-cache", envoySpec{filter: envoyWasm, pluginJSON: cacheOn})},
		{ID: "goproxy", Label: "5 bare Go reverse proxy", Group: "go", Sets: "one",
			Cmd: "build/bench/bin/proxy -backend URL", start: startGo("goproxy")},
		{ID: "host-nocache", Label: "6d Go host/ + filter, cache off", Group: "go", Sets: "all",
			Cmd:   "build/bench/bin/proxy -backend URL " + strings.Join(hostArgs("build/bench/plugin-cache-off.json", false), " "),
			start: startGo("host-nocache", hostArgs(offPath, opt.profile)...)},
		{ID: "host-cache", Label: fmt.Sprintf("6e Go host/ + filter, cache %d", opt.cacheSize), Group: "go", Sets: "all",
			Cmd:   "build/bench/bin/proxy -backend URL " + strings.Join(hostArgs("build/bench/plugin-cache-on.json", false), " "),
			start: startGo("host-cache", hostArgs(onPath, opt.profile)...)},
		{ID: "host-cache-nolimit", Label: fmt.Sprintf("6f Go host/ + filter, cache %d, no callback limit", opt.cacheSize), Group: "go", Sets: "all",
			Cmd:   "build/bench/bin/proxy -backend URL " + strings.Join(hostArgs("build/bench/plugin-cache-on.json", false), " ") + " -callback-limit=-1ns",
			start: startGo("host-cache-nolimit", append(hostArgs(onPath, opt.profile), "-callback-limit=-1ns")...)},
	}
	if opt.gwBin != "" && opt.only == nil {
		// gatewarden serve + filter, cache off covers the Go host without cache; skip the
		// duplicate to keep a full run near 10 minutes (run it with -only host-nocache).
		configs = append(configs[:7], configs[8:]...)
	}
	if opt.gwBin != "" {
		configs = append(configs, serveConfigs(opt, backendURL, cacheOff, cacheOn)...)
	}

	for _, c := range configs {
		if !opt.want(c.ID) {
			continue
		}
		cr := &configResult{ID: c.ID, Label: c.Label, Group: c.Group, Cmd: c.Cmd}
		res.Configs = append(res.Configs, cr)
		log.Printf("== %s", c.Label)
		p, url, err := c.start()
		if err != nil {
			cr.Err = err.Error()
			log.Printf("   %v", err)
			continue
		}
		pprofAddr := ""
		if opt.profile && strings.HasPrefix(c.ID, "host-") {
			pprofAddr, _ = p.waitLine("pprof ", time.Second)
		}
		for i, s := range sets {
			if c.Sets == "one" && i > 0 {
				break
			}
			r, err := measure(opt, c, s, p, be, url, pprofAddr)
			if err != nil {
				r.Note = err.Error()
				log.Printf("   %s: %v", s.Name, err)
			}
			cr.Runs = append(cr.Runs, r)
			log.Printf("   %-11s %8.0f rps  cpu %6.1f us/req  seq p50 %dus (filter %.0fus, sat %.0fus)  open %4.0f/s p50 %v p99 %v  ok=%v  others %.0f%% load %.1f %s",
				s.Name, r.RPS, r.CPUPerReqUS, r.Seq.P50US, r.FilterP50US, r.FilterP50SatUS, r.Open.Rate, r.Open.P50.Round(time.Microsecond), r.Open.P99.Round(time.Microsecond), r.StatusOK, r.OtherPct, r.Load1, r.Note)
		}
		cr.RSSKB, cr.HWMKB = memKB(p.pid())
		if p != be {
			p.stop()
		}
	}
	if opt.want("coldstart") {
		log.Printf("== cold start")
		res.Cold = coldStart(opt, backendURL, bePort, jwks)
	}
	if opt.want("pervm") {
		log.Printf("== memory per VM")
		res.PerVM = perVM(opt, backendURL, bePort, jwks, sets[0])
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// measure runs warm-up, wrk (saturation, CPU per request) and the open-loop rate for one set.
func measure(opt *options, c config, s tokenSet, p, be *proc, url, pprofAddr string) (runResult, error) {
	r := runResult{Set: s.Name}
	if _, err := runWrk(opt, opt.warmup, url, s.File); err != nil {
		return r, err
	}
	var profDone chan error
	if pprofAddr != "" {
		r.Profile = filepath.Join(opt.workDir, "profiles", c.ID+"-"+s.Name+".pprof")
		profDone = make(chan error, 1)
		go func() { profDone <- fetchProfile(pprofAddr, opt.duration-time.Second, r.Profile) }()
	}
	r.Load1 = loadAvg1()
	c0, _ := cpuTicks(p.pid())
	b0, _ := cpuTicks(be.pid())
	s0, t0 := sysTicks()
	h0, _ := scrapeFilterTime(p.metrics)
	w, err := runWrk(opt, opt.duration, url, s.File)
	if h1, err := scrapeFilterTime(p.metrics); err == nil && h0 != nil {
		r.FilterP50SatUS = h1.since(h0).quantile(0.5) * 1e6
	}
	s1, t1 := sysTicks()
	c1, _ := cpuTicks(p.pid())
	b1, _ := cpuTicks(be.pid())
	if t1 > t0 {
		ours := (c1 - c0) + int64(w.CPU/clockTick)
		if p != be {
			ours += b1 - b0
		}
		r.OtherPct = 100 * float64((s1-s0)-ours) / float64(t1-t0)
		if r.OtherPct < 0 {
			r.OtherPct = 0
		}
	}
	if profDone != nil {
		if perr := <-profDone; perr != nil {
			log.Printf("   profile: %v", perr)
		}
	}
	if err != nil {
		return r, err
	}
	r.Wrk, r.RPS = w, w.rps()
	if w.Requests > 0 {
		r.CPUPerReqUS = float64(c1-c0) * float64(clockTick/time.Microsecond) / float64(w.Requests)
		if p != be {
			r.BackendCPUUS = float64(b1-b0) * float64(clockTick/time.Microsecond) / float64(w.Requests)
		}
	}
	bad := w.ErrConnect + w.ErrRead + w.ErrWrite + w.ErrTimeout
	if s.Valid || c.Sets == "one" {
		r.StatusOK = w.ErrStatus == 0 && bad == 0
	} else {
		r.StatusOK = w.ErrStatus == w.Requests && bad == 0
	}

	if opt.seqDur > 0 {
		f0, _ := scrapeFilterTime(p.metrics)
		sq, err := runSequential(opt, opt.seqDur, url, s.File)
		if err != nil {
			return r, err
		}
		if f1, err := scrapeFilterTime(p.metrics); err == nil && f0 != nil {
			r.FilterP50US = f1.since(f0).quantile(0.5) * 1e6
		}
		r.Seq = sq
		wantBad := int64(0)
		if !s.Valid && c.Sets == "all" {
			wantBad = sq.Requests // every request of an invalid set must be refused
		}
		if sq.ErrConnect+sq.ErrRead+sq.ErrWrite+sq.ErrTimeout > 0 || sq.ErrStatus != wantBad {
			r.StatusOK = false
			r.Note = strings.TrimSpace(r.Note + " sequential run: unexpected statuses or socket errors")
		}
	}

	rate := opt.rate
	if half := r.RPS / 2; half < rate {
		rate = float64(int(half/10) * 10)
		r.Note = fmt.Sprintf("rate lowered to %.0f/s (half of saturation)", rate)
	}
	if rate >= 10 {
		toks, err := readTokens(s.File)
		if err != nil {
			return r, err
		}
		r.Open = runOpenLoop(url, toks, rate, opt.rateDur)
		want := 200
		if !s.Valid && c.Sets == "all" {
			want = 401
		}
		if r.Open.Errors > 0 || r.Open.Status[want] != r.Open.Sent {
			r.StatusOK = false
			r.Note = strings.TrimSpace(r.Note + fmt.Sprintf(" open-loop statuses %v errors %d", r.Open.Status, r.Open.Errors))
		}
	}
	return r, nil
}

func machine(opt *options) map[string]string {
	m := map[string]string{}
	run := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	m["cores"] = run("nproc")
	m["kernel"] = run("uname", "-sr")
	m["go"] = run("go", "version")
	first := func(s string) string { return strings.SplitN(s, "\n", 2)[0] }
	m["wrk"] = first(run("wrk", "-v"))
	if opt.envoyBin != "" {
		v := run(opt.envoyBin, "--version")
		if i := strings.Index(v, "version:"); i >= 0 {
			v = strings.TrimSpace(v[i+len("version:"):])
		}
		m["envoy"] = v
	}
	if b, err := os.ReadFile(filepath.Join(opt.repo, "go.mod")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "tetratelabs/wazero ") {
				m["wazero"] = strings.TrimSpace(strings.Fields(l)[1])
			}
		}
	}
	if opt.gwBin != "" {
		m["gateway"] = "build/gatewarden serve"
	} else {
		m["gateway"] = "bench/cmd/proxy on host/ (gatewarden serve not built yet)"
	}
	return m
}
