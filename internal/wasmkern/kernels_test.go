package wasmkern

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func TestModuleUpToDate(t *testing.T) {
	if !bytes.Equal(Build(), kernelsWasm) {
		t.Fatal("kernels.wasm is stale: run go generate ./internal/wasmkern")
	}
}

const (
	bufBytes = BufLen * 8
	memBytes = 65536 // the kernel module's one page
)

// harness runs the kernels in wazero on buffers at chosen addresses.
type harness struct {
	t        testing.TB
	mem      api.Memory
	mul, sqr api.Function
	sha, b64 api.Function
	n        *big.Int
	n0inv    uint64
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Instantiate(ctx, Module())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, mem: mod.Memory(), mul: mod.ExportedFunction(Mont28Mul), sqr: mod.ExportedFunction(Mont28Sqr),
		sha: mod.ExportedFunction(Sha256Blocks), b64: mod.ExportedFunction(B64URLDecode)}
}

// setModulus writes n at addr and remembers n0inv = -n^-1 mod 2^28.
func (h *harness) setModulus(addr uint32, n *big.Int) {
	h.n = n
	m := new(big.Int).Lsh(big.NewInt(1), LimbBits)
	inv := new(big.Int).ModInverse(n, m)
	h.n0inv = new(big.Int).Sub(m, inv).Uint64() & limbMask
	h.put(addr, n)
}

// put writes v (< 2^2072) as a padded operand buffer at addr, padding zero.
func (h *harness) put(addr uint32, v *big.Int) {
	h.t.Helper()
	b := make([]byte, bufBytes)
	t := new(big.Int).Set(v)
	mask := big.NewInt(limbMask)
	for j := 0; j < Limbs; j++ {
		binary.LittleEndian.PutUint64(b[8*(Pad+j):], new(big.Int).And(t, mask).Uint64())
		t.Rsh(t, LimbBits)
	}
	if t.Sign() != 0 {
		h.t.Fatal("operand too large")
	}
	if !h.mem.Write(addr, b) {
		h.t.Fatalf("write at %d out of memory", addr)
	}
}

// get reads the operand buffer at addr; it fails the test if a limb is 2^28 or more or the
// padding is not zero.
func (h *harness) get(addr uint32) *big.Int {
	h.t.Helper()
	b, ok := h.mem.Read(addr, bufBytes)
	if !ok {
		h.t.Fatalf("read at %d out of memory", addr)
	}
	v := new(big.Int)
	for j := BufLen - 1; j >= 0; j-- {
		limb := binary.LittleEndian.Uint64(b[8*j:])
		if j < Pad || j >= Pad+Limbs {
			if limb != 0 {
				h.t.Fatalf("padding slot %d is %#x", j, limb)
			}
			continue
		}
		if limb > limbMask {
			h.t.Fatalf("limb %d is %#x", j-Pad, limb)
		}
		v.Lsh(v, LimbBits).Or(v, new(big.Int).SetUint64(limb))
	}
	return v
}

func (h *harness) call(f api.Function, args ...uint64) {
	h.t.Helper()
	if _, err := f.Call(context.Background(), args...); err != nil {
		h.t.Fatal(err)
	}
}

// want is the exact Montgomery product (x*y + m*n)/R with m = x*y*(-n^-1) mod R.
func want(x, y, n *big.Int) *big.Int {
	r := new(big.Int).Lsh(big.NewInt(1), LimbBits*Limbs)
	t := new(big.Int).Mul(x, y)
	ninv := new(big.Int).ModInverse(n, r)
	m := new(big.Int).Mul(t, ninv)
	m.Mod(m, r)
	m.Sub(r, m).Mod(m, r) // -t*n^-1 mod R
	t.Add(t, m.Mul(m, n))
	if new(big.Int).Mod(t, r).Sign() != 0 {
		panic("not divisible")
	}
	return t.Rsh(t, LimbBits*Limbs)
}

// testModuli are 2048-bit odd moduli at the edges and a real key's.
func testModuli(t testing.TB) []*big.Int {
	one := big.NewInt(1)
	top := new(big.Int).Lsh(one, 2047)
	all := new(big.Int).Sub(new(big.Int).Lsh(one, 2048), one)
	sparse := new(big.Int).Add(top, one) // 2^2047 + 1
	dense28 := new(big.Int).Sub(all, new(big.Int).Lsh(one, 1000))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// n = 1 mod 2^28 and n = -1 mod 2^28: n0inv at its extremes.
	lowOnes := new(big.Int).Or(top, big.NewInt(limbMask))
	return []*big.Int{sparse, all, dense28, key.N, lowOnes, new(big.Int).Add(top, big.NewInt(1<<28+1))}
}

// operands are values below 2n at the edges, and random ones.
func operands(rng *mrand.Rand, n *big.Int, k int) []*big.Int {
	two := new(big.Int).Lsh(n, 1)
	vs := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Set(n),
		new(big.Int).Sub(two, big.NewInt(1)), new(big.Int).Rsh(n, 1)}
	for i := 0; i < k; i++ {
		b := make([]byte, 260)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		vs = append(vs, new(big.Int).Mod(new(big.Int).SetBytes(b), two))
	}
	return vs
}

func TestMont28MatchesBig(t *testing.T) {
	h := newHarness(t)
	const nA, xA, yA, zA, qA = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, n := range testModuli(t) {
		h.setModulus(nA, n)
		vs := operands(rng, n, 6)
		for i, x := range vs {
			for _, y := range vs[i:] {
				w := want(x, y, n)
				if w.Cmp(new(big.Int).Lsh(n, 1)) >= 0 {
					t.Fatal("bound z < 2n does not hold") // the math, not the kernel
				}
				h.put(xA, x)
				h.put(yA, y)
				h.call(h.mul, zA, xA, yA, nA, qA, h.n0inv)
				if got := h.get(zA); got.Cmp(w) != 0 {
					t.Fatalf("mul n=%x\nx=%x\ny=%x\ngot  %x\nwant %x", n, x, y, got, w)
				}
				// In place: z = x.
				h.call(h.mul, xA, xA, yA, nA, qA, h.n0inv)
				if got := h.get(xA); got.Cmp(w) != 0 {
					t.Fatalf("mul in place: got %x want %x", got, w)
				}
				h.put(xA, x)
				h.call(h.mul, yA, xA, yA, nA, qA, h.n0inv)
				if got := h.get(yA); got.Cmp(w) != 0 {
					t.Fatalf("mul into y: got %x want %x", got, w)
				}
			}
			w := want(x, x, n)
			h.put(xA, x)
			h.call(h.sqr, zA, xA, nA, qA, h.n0inv)
			if got := h.get(zA); got.Cmp(w) != 0 {
				t.Fatalf("sqr n=%x\nx=%x\ngot  %x\nwant %x", n, x, got, w)
			}
			h.call(h.sqr, xA, xA, nA, qA, h.n0inv)
			if got := h.get(xA); got.Cmp(w) != 0 {
				t.Fatalf("sqr in place: got %x want %x", got, w)
			}
			h.call(h.mul, zA, zA, zA, nA, qA, h.n0inv) // mul(x, x) agrees with sqr
			h.call(h.sqr, xA, xA, nA, qA, h.n0inv)
			if a, b := h.get(zA), h.get(xA); a.Cmp(b) != 0 {
				t.Fatalf("mul(x, x) %x != sqr(x) %x", a, b)
			}
		}
	}
}

// TestMont28StaysInBuffers runs each kernel with every buffer in turn at address 0 and
// flush against the end of memory: a read or write before or after a buffer traps (wasm
// addresses do not wrap). The addresses a kernel touches do not depend on the values, so
// one run per placement covers all. The control placements, a buffer whose last value limb
// lies past the end of memory, must trap, which shows that the placements bite.
func TestMont28StaysInBuffers(t *testing.T) {
	h := newHarness(t)
	n := testModuli(t)[3]
	end := uint32(memBytes - bufBytes)
	x := new(big.Int).Sub(n, big.NewInt(12345))
	for _, kernel := range []string{Mont28Mul, Mont28Sqr} {
		nbuf := 4
		if kernel == Mont28Sqr {
			nbuf = 3
		}
		for which := 0; which <= nbuf; which++ { // buffer order: z, x, [y,] n, q
			for _, at := range []uint32{0, end} {
				addrs := []uint32{0x2000, 0x3000, 0x4000, 0x5000, 0x6000}[:nbuf+1]
				addrs[which] = at
				nArg := addrs[nbuf-1]
				h.setModulus(nArg, n)
				for k := 0; k < nbuf-1; k++ { // x, y (and z: zero is fine)
					if k > 0 {
						h.put(addrs[k], x)
					}
				}
				h.put(addrs[0], big.NewInt(0))
				h.put(addrs[nbuf], big.NewInt(0))
				args := append([]uint64(nil), u64s(addrs)...)
				args = append(args, h.n0inv)
				f := h.mul
				if kernel == Mont28Sqr {
					f = h.sqr
				}
				if _, err := f.Call(context.Background(), args...); err != nil {
					t.Fatalf("%s with buffer %d at %#x: %v", kernel, which, at, err)
				}
				// Control: the buffer's last value limb past the end.
				addrs[which] = memBytes - 8*(Pad+Limbs) + 8
				args = append(u64s(addrs), h.n0inv)
				if _, err := f.Call(context.Background(), args...); err == nil {
					t.Fatalf("%s with buffer %d past the end of memory did not trap", kernel, which)
				}
			}
		}
	}
}

func u64s(a []uint32) []uint64 {
	out := make([]uint64, len(a))
	for i, v := range a {
		out[i] = uint64(v)
	}
	return out
}

// FuzzMont28 compares both kernels with math/big on fuzzed operands (reduced below 2n) for a
// fixed modulus.
func FuzzMont28(f *testing.F) {
	f.Add([]byte{0}, []byte{1})
	f.Add(bytes.Repeat([]byte{0xff}, 260), bytes.Repeat([]byte{0xff}, 260))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{0x80}, 256))
	h := newHarness(f)
	n := testModuli(f)[3]
	two := new(big.Int).Lsh(n, 1)
	const nA, xA, yA, zA, qA = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
	f.Fuzz(func(t *testing.T, xb, yb []byte) {
		h.t = t
		h.setModulus(nA, n)
		x := new(big.Int).Mod(new(big.Int).SetBytes(xb), two)
		y := new(big.Int).Mod(new(big.Int).SetBytes(yb), two)
		h.put(xA, x)
		h.put(yA, y)
		h.call(h.mul, zA, xA, yA, nA, qA, h.n0inv)
		if got, w := h.get(zA), want(x, y, n); got.Cmp(w) != 0 {
			t.Fatalf("mul x=%x y=%x: got %x want %x", x, y, got, w)
		}
		h.call(h.sqr, zA, xA, nA, qA, h.n0inv)
		if got, w := h.get(zA), want(x, x, n); got.Cmp(w) != 0 {
			t.Fatalf("sqr x=%x: got %x want %x", x, got, w)
		}
	})
}

// BenchmarkKernels times one call of each kernel in wazero (the host call costs about 0.1
// us of it): a Montgomery multiplication and squaring of 2048-bit operands, and SHA-256 of
// 1024 bytes (16 blocks).
func BenchmarkKernels(b *testing.B) {
	h := newHarness(b)
	n := testModuli(b)[3]
	const nA, xA, qA, sA, pA = 0x1000, 0x2000, 0x5000, 0x6000, 0x7000
	h.setModulus(nA, n)
	h.put(xA, new(big.Int).Rsh(n, 3))
	ctx := context.Background()
	b.Run("mul", func(b *testing.B) {
		for b.Loop() {
			h.mul.Call(ctx, xA, xA, xA, nA, qA, h.n0inv)
		}
	})
	b.Run("sqr", func(b *testing.B) {
		for b.Loop() {
			h.sqr.Call(ctx, xA, xA, nA, qA, h.n0inv)
		}
	})
	b.Run("sha256-1KB", func(b *testing.B) {
		b.SetBytes(1024)
		for b.Loop() {
			h.sha.Call(ctx, sA, pA, 16)
		}
	})
}
