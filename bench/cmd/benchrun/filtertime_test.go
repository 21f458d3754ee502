package main

import (
	"math"
	"testing"
)

func TestHistQuantile(t *testing.T) {
	// 10 samples <= 10us, 30 more <= 20us, 60 more <= 50us.
	h := hist{10e-6: 10, 20e-6: 40, 50e-6: 100}
	for _, tt := range []struct{ q, want float64 }{
		{0.1, 10e-6},
		{0.25, 15e-6},          // rank 25: halfway through the (10, 20] bucket
		{0.5, 20e-6 + 30e-6/6}, // rank 50: 10 of 60 into (20, 50]
		{1, 50e-6},
	} {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("q%.2f = %v, want %v", tt.q, got, tt.want)
		}
	}
	old := hist{10e-6: 5, 20e-6: 5, 50e-6: 5}
	if d := h.since(old); d[10e-6] != 5 || d[50e-6] != 95 {
		t.Fatalf("since: %v", d)
	}
	if (hist{}).quantile(0.5) != 0 || (hist{1: 0}).quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
}
