package host

import (
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestSoak sends GATEWARDEN_SOAK requests (e.g. 200000) through the product
// filter on 2 VMs and checks that host heap and guest memory stay flat.
// Run by hand: GATEWARDEN_SOAK=200000 go test ./host -run Soak -v
func TestSoak(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GATEWARDEN_SOAK"))
	if n == 0 {
		t.Skip("set GATEWARDEN_SOAK=<requests> to run")
	}
	p, tok := gatewardenPluginVMs(t, Limits{}, 2)
	h := p.Middleware(okHandler)
	stats := func() (heap uint64, guest uint32, rss string) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for i := range p.vms {
			if v := p.vms[i].Load(); v != nil {
				guest += v.mem.Size()
			}
		}
		b, _ := os.ReadFile("/proc/self/status")
		for _, line := range splitLines(string(b)) {
			if len(line) > 6 && line[:6] == "VmRSS:" {
				rss = line[6:]
			}
		}
		return ms.HeapAlloc, guest, rss
	}
	run := func(count int) {
		var wg sync.WaitGroup
		per := count / 4
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					req := httptest.NewRequest("GET", "/api/items", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						t.Errorf("status %d", rec.Code)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	run(n / 10) // warm up
	h0, g0, r0 := stats()
	start := time.Now()
	run(n)
	d := time.Since(start)
	h1, g1, r1 := stats()
	t.Logf("%d requests in %v (%.0f req/s, 2 VMs, 4 clients)", n, d, float64(n)/d.Seconds())
	t.Logf("host heap %d KiB -> %d KiB; guest memory %d KiB -> %d KiB; RSS %s -> %s", h0>>10, h1>>10, g0>>10, g1>>10, r0, r1)
	if h1 > h0+16<<20 {
		t.Errorf("host heap grew by %d KiB", (h1-h0)>>10)
	}
	if g1 > g0+32<<20 {
		t.Errorf("guest memory grew by %d KiB", (g1-g0)>>10)
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
