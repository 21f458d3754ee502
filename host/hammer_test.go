package host

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHammer sends many concurrent requests through several VMs with
// pauses, callouts, ticks and shared-data CAS in flight (run with -race).
func TestHammer(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 4; c.Configuration = []byte("tick=5") })
	clients, perClient := 32, 40
	if testing.Short() {
		clients, perClient = 8, 20
	}
	scenarios := []struct {
		test  string
		code  int
		check func(result) bool
	}{
		{"pass", 200, func(r result) bool { return strings.Contains(r.body, "x-test: pass") }},
		{"modify", 200, func(r result) bool { return strings.Contains(r.body, "x-added: yes") }},
		{"local", 403, nil},
		{"callout", 200, func(r result) bool { return strings.Contains(r.body, "x-callout-status: 200") }},
		{"callout-deny", 401, nil},
		{"counter", 200, nil},
		{"resp-modify", 200, func(r result) bool { return r.header.Get("X-Resp") == "1" }},
		{"props", 200, func(r result) bool { return strings.Contains(r.body, "plugin_name=test-plugin") }},
	}
	var counters atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, clients*perClient)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				sc := scenarios[(c+i)%len(scenarios)]
				r := e.do(sc.test, "X-Key", strconv.Itoa(c))
				if r.err != nil {
					errs <- sc.test + ": " + r.err.Error()
					continue
				}
				if r.code != sc.code || (sc.check != nil && !sc.check(r)) {
					errs <- sc.test + ": status " + strconv.Itoa(r.code) + " body " + r.body
					continue
				}
				if sc.test == "counter" {
					counters.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	got, ok := e.p.shared.get([]byte("counter"))
	if !ok || string(got.val) != strconv.FormatInt(counters.Load(), 10) {
		t.Errorf("shared counter = %q, want %d (CAS across VMs lost updates)", got.val, counters.Load())
	}
	waitMetric(t, e.p, "deleted", func(n int64) bool { return n == metricValue(e.p, "created") })
	if n := metricValue(e.p, "lifecycle_errors"); n != 0 {
		t.Errorf("lifecycle_errors = %d", n)
	}
	for i := range e.p.vms {
		v := e.p.vms[i].Load()
		if v.inflight.Load() != 0 {
			t.Errorf("vm %d: %d requests still in flight", i, v.inflight.Load())
		}
	}
}
