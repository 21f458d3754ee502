package main

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// hist is a cumulative Prometheus histogram: upper bound (seconds) -> count.
type hist map[float64]float64

// scrapeFilterTime reads proxywasm_filter_duration_seconds from a Prometheus text endpoint,
// summed over its series. It returns nil, nil when url is empty.
func scrapeFilterTime(url string) (hist, error) {
	if url == "" {
		return nil, nil
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	h := hist{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "proxywasm_filter_duration_seconds_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		if i < 0 {
			continue
		}
		rest := line[i+4:]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			continue
		}
		le, err := strconv.ParseFloat(rest[:j], 64)
		if err != nil {
			continue // +Inf is implied by the largest finite bucket's complement
		}
		fields := strings.Fields(rest[j:])
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return nil, fmt.Errorf("scrape %s: %q: %v", url, line, err)
		}
		h[le] += v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("scrape %s: no proxywasm_filter_duration_seconds", url)
	}
	return h, nil
}

// since is h - old, bucket by bucket.
func (h hist) since(old hist) hist {
	d := hist{}
	for le, v := range h {
		d[le] = v - old[le]
	}
	return d
}

// quantile estimates the q-quantile (seconds) by linear interpolation inside the bucket that
// holds it, as Prometheus' histogram_quantile does. 0 without samples.
func (h hist) quantile(q float64) float64 {
	les := make([]float64, 0, len(h))
	for le := range h {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 || h[les[len(les)-1]] == 0 {
		return 0
	}
	rank := q * h[les[len(les)-1]]
	prevLE, prevN := 0.0, 0.0
	for _, le := range les {
		if n := h[le]; n >= rank {
			if n == prevN {
				return le
			}
			return prevLE + (le-prevLE)*(rank-prevN)/(n-prevN)
		}
		prevLE, prevN = le, h[le]
	}
	return les[len(les)-1]
}
