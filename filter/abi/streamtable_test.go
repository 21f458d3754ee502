package abi

import (
	"math/rand/v2"
	"testing"
)

// TestStreamTableMatchesMap drives the direct-mapped table and a plain map with the same
// random inserts, replaces and deletes, including ids that collide in the slots.
func TestStreamTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab streamTable
	ref := map[uint32]uint32{} // id -> root
	ids := func() uint32 {
		switch rng.IntN(3) {
		case 0:
			return uint32(rng.IntN(8)) * streamSlots // all in slot 0
		case 1:
			return uint32(rng.IntN(600))
		default:
			return rng.Uint32()
		}
	}
	for i := 0; i < 200000; i++ {
		id := ids()
		switch rng.IntN(3) {
		case 0, 1:
			root := uint32(i)
			tab.put(stream{id: id, root: root, used: true})
			ref[id] = root
		case 2:
			_, want := ref[id]
			if got := tab.remove(id); got != want {
				t.Fatalf("step %d: remove(%d) = %v, want %v", i, id, got, want)
			}
			delete(ref, id)
		}
		if tab.n != len(ref) {
			t.Fatalf("step %d: %d streams, want %d", i, tab.n, len(ref))
		}
		probe := ids()
		s, ok := tab.get(probe)
		root, want := ref[probe]
		if ok != want || (ok && (s.root != root || s.id != probe)) {
			t.Fatalf("step %d: get(%d) = %+v %v, want root %d %v", i, probe, s, ok, root, want)
		}
	}
}

func TestStreamTableNilContextStaysLive(t *testing.T) {
	var tab streamTable
	tab.put(stream{id: 3, used: true}) // a root that returned no context still owns the id
	if _, ok := tab.get(3); !ok {
		t.Fatal("a stream with a nil context was lost")
	}
}
