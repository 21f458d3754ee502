package wasmkern

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// sha256Via hashes msg with the kernel, the padding done here; state at stAddr, the padded
// message at pAddr.
func (h *harness) sha256Via(msg []byte, stAddr, pAddr uint32) [32]byte {
	h.t.Helper()
	padded := append(bytes.Clone(msg), 0x80)
	for len(padded)%64 != 56 {
		padded = append(padded, 0)
	}
	padded = binary.BigEndian.AppendUint64(padded, uint64(len(msg))<<3)
	st := make([]byte, 32)
	for i, v := range [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {
		binary.LittleEndian.PutUint32(st[4*i:], v)
	}
	if !h.mem.Write(stAddr, st) || !h.mem.Write(pAddr, padded) {
		h.t.Fatal("write out of memory")
	}
	h.call(h.sha, uint64(stAddr), uint64(pAddr), uint64(len(padded)/64))
	st, _ = h.mem.Read(stAddr, 32)
	var out [32]byte
	for i := 0; i < 8; i++ {
		binary.BigEndian.PutUint32(out[4*i:], binary.LittleEndian.Uint32(st[4*i:]))
	}
	return out
}

func TestSha256MatchesStdlib(t *testing.T) {
	h := newHarness(t)
	msg := make([]byte, 1500)
	for i := range msg {
		msg[i] = byte(i*7 + i>>8)
	}
	for n := 0; n <= len(msg); n++ {
		if n > 300 && n%61 != 0 && n != len(msg) {
			continue
		}
		if got, want := h.sha256Via(msg[:n], 0x100, 0x1000), sha256.Sum256(msg[:n]); got != want {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
	// No blocks: the state is left alone.
	h.call(h.sha, 0x100, 0x1000, 0)
}

// TestSha256StaysInBuffers: state and data at address 0 and flush against the end of
// memory; a control with the data one byte longer than memory must trap.
func TestSha256StaysInBuffers(t *testing.T) {
	h := newHarness(t)
	msg := bytes.Repeat([]byte("gatewarden"), 30) // 300 bytes: 5 blocks padded
	want := sha256.Sum256(msg)
	const size = 320
	for _, c := range []struct{ st, p uint32 }{{0, 0x1000}, {memBytes - 32, 0x1000}, {0x2000, 0}, {0x2000, memBytes - size}} {
		if got := h.sha256Via(msg, c.st, c.p); got != want {
			t.Fatalf("state at %#x, data at %#x: %x, want %x", c.st, c.p, got, want)
		}
	}
	if _, err := h.sha.Call(context.Background(), 0x100, memBytes-size+4, size/64); err == nil {
		t.Fatal("reading past the end of memory did not trap")
	}
	if _, err := h.sha.Call(context.Background(), memBytes-28, 0x1000, 1); err == nil {
		t.Fatal("a state past the end of memory did not trap")
	}
}

func FuzzSha256(f *testing.F) {
	f.Add([]byte(""))
	f.Add(bytes.Repeat([]byte{0xff}, 55))
	f.Add(bytes.Repeat([]byte{0}, 64))
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 30000 {
			return
		}
		h.t = t
		if got, want := h.sha256Via(msg, 0x100, 0x1000), sha256.Sum256(msg); got != want {
			t.Fatalf("%x: %x, want %x", msg, got, want)
		}
	})
}
