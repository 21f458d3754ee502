package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Open-loop load at a fixed rate (wrk2's -R is not packaged in Debian, so this stands in for it).
// Requests are scheduled at start+i/rate no matter how slow earlier answers are, and latency is
// measured from the scheduled time, so a stall shows up in the percentiles instead of silently
// lowering the rate (no coordinated omission).

type openResult struct {
	Rate                     float64 // requested
	Achieved                 float64 // completed per second
	Sent                     int
	Status                   map[int]int
	Errors                   int
	P50, P90, P99, P999, Max time.Duration
}

func readTokens(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

func runOpenLoop(url string, tokens []string, rate float64, d time.Duration) openResult {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// Warm a few connections so the first requests do not pay the TCP handshake.
	warm := func(tok string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); warm(tokens[i%len(tokens)]) }(i)
	}
	wg.Wait()

	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	status := make([]int, n)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(10 * time.Millisecond)
	off := len(tokens) / 3
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+tokens[(off+i)%len(tokens)])
			resp, err := client.Do(req)
			if err != nil {
				status[i] = -1
				lat[i] = time.Since(at)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(at)
			status[i] = resp.StatusCode
		}(i, at)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := openResult{Rate: rate, Sent: n, Status: map[int]int{}}
	for _, s := range status {
		if s < 0 {
			r.Errors++
		} else {
			r.Status[s]++
		}
	}
	r.Achieved = float64(n-r.Errors) / elapsed.Seconds()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) time.Duration {
		if n == 0 {
			return 0
		}
		i := int(p * float64(n))
		if i >= n {
			i = n - 1
		}
		return lat[i]
	}
	r.P50, r.P90, r.P99, r.P999, r.Max = pct(0.50), pct(0.90), pct(0.99), pct(0.999), lat[n-1]
	return r
}
