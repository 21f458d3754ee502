package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what bench/tokens.lua's done() prints.
type wrkResult struct {
	Requests   int64         `json:"requests"`
	DurationUS int64         `json:"duration_us"`
	Bytes      int64         `json:"bytes"`
	ErrConnect int64         `json:"err_connect"`
	ErrRead    int64         `json:"err_read"`
	ErrWrite   int64         `json:"err_write"`
	ErrStatus  int64         `json:"err_status"` // non-2xx/3xx answers
	ErrTimeout int64         `json:"err_timeout"`
	P50US      int64         `json:"p50_us"`
	P90US      int64         `json:"p90_us"`
	P99US      int64         `json:"p99_us"`
	MaxUS      int64         `json:"max_us"`
	MeanUS     float64       `json:"mean_us"`
	CPU        time.Duration // wrk's own CPU time (rusage)
}

func (w wrkResult) rps() float64 {
	if w.DurationUS == 0 {
		return 0
	}
	return float64(w.Requests) / (float64(w.DurationUS) / 1e6)
}

// wrkArgs is the exact command line, kept for the report.
func wrkArgs(opt *options, d time.Duration, url, tokens string) []string {
	return wrkArgsConns(opt, opt.threads, opt.conns, d, url, tokens)
}

// wrkArgsConns is wrkArgs with the given threads and connections.
func wrkArgsConns(opt *options, threads, conns int, d time.Duration, url, tokens string) []string {
	return []string{"wrk", "-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "5s",
		"-s", opt.luaScript, url, "--", tokens}
}

func runWrk(opt *options, d time.Duration, url, tokens string) (wrkResult, error) {
	return runWrkArgs(wrkArgs(opt, d, url, tokens))
}

// runSequential is wrk with one thread and one connection: each request waits
// for the previous answer, so its latency has no queueing in it. This is the
// latency a lightly loaded gateway adds, measured to the microsecond by wrk.
func runSequential(opt *options, d time.Duration, url, tokens string) (wrkResult, error) {
	return runWrkArgs(wrkArgsConns(opt, 1, 1, d, url, tokens))
}

func runWrkArgs(args []string) (wrkResult, error) {
	cmd := exec.Command(args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "BENCHJSON "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return r, fmt.Errorf("wrk output %q: %v", rest, err)
			}
			r.CPU = cpu
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("wrk printed no BENCHJSON line:\n%s", out)
}
