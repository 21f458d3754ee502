package wasmkern

import "math/big"

// SHA-256's compression function (FIPS 180-4, section 6.2.2) over whole 64-byte blocks,
// written directly in wasm: the eight working variables and the 16-word message schedule
// live in i32 locals, the 64 rounds are unrolled with the variables renamed instead of
// moved, the round constants are immediates, and rotations are wasm's i32.rotr (Go's wasm
// backend computes uint32 arithmetic in i64 registers and masks it, and has no rotate).

// Sha256Blocks(state *[8]uint32, p *byte, blocks uint32) runs the compression function on
// blocks 64-byte blocks at p, updating state (native-endian words, as crypto/sha256's
// digest keeps them). It reads p[0 : 64*blocks] and state, and writes state only.
const Sha256Blocks = "sha256_blocks"

const (
	opI32Load  = 0x28
	opI32Store = 0x36
	opI32Eqz   = 0x45
	opI32And   = 0x71
	opI32Or    = 0x72
	opI32Xor   = 0x73
	opI32Rotl  = 0x77
	opI32Rotr  = 0x78
)

// sha256K are the round constants: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes (FIPS 180-4 section 4.2.2), computed, not typed in.
var sha256K = func() (k [64]uint32) {
	i := 0
	for p := int64(2); i < 64; p++ {
		if !big.NewInt(p).ProbablyPrime(0) {
			continue
		}
		// floor(cbrt(p) * 2^32) = floor(cbrt(p * 2^96)); keep the low 32 bits.
		x := new(big.Int).Lsh(big.NewInt(p), 96)
		r := new(big.Int).Lsh(big.NewInt(1), uint(x.BitLen()/3+1))
		for {
			next := new(big.Int).Quo(x, new(big.Int).Mul(r, r))
			next.Add(next, new(big.Int).Lsh(r, 1)).Quo(next, big.NewInt(3))
			if next.Cmp(r) >= 0 {
				break
			}
			r = next
		}
		k[i] = uint32(r.Uint64())
		i++
	}
	return k
}()

// sha256Gen generates the kernel.
type sha256Gen struct {
	*fn
	st, p, n uint32
	v        [8]uint32  // a..h, renamed every round
	w        [16]uint32 // the message schedule ring
	t1       uint32
}

func genSha256() *fn {
	g := &sha256Gen{fn: newFn([]byte{typeI32, typeI32, typeI32}, nil)}
	g.st, g.p, g.n = 0, 1, 2
	for i := range g.v {
		g.v[i] = g.local(typeI32)
	}
	for i := range g.w {
		g.w[i] = g.local(typeI32)
	}
	g.t1 = g.local(typeI32)
	g.op(opBlock, blockEmpty, opLoop, blockEmpty)
	g.get(g.n)
	g.op(opI32Eqz)
	g.brIf(1)
	// The block, big-endian words. Touch the last word first: wazero then elides the
	// bounds checks of the other loads from p.
	g.get(g.p)
	g.memOp32(opI32Load, 60)
	g.op(opDrop)
	for i := 0; i < 16; i++ {
		g.get(g.p)
		g.memOp32(opI32Load, 4*i)
		g.bswap()
		g.set(g.w[i])
	}
	g.get(g.st)
	g.memOp32(opI32Load, 28)
	g.set(g.v[7])
	for i := 0; i < 7; i++ {
		g.get(g.st)
		g.memOp32(opI32Load, 4*i)
		g.set(g.v[i])
	}
	v := g.v // v[0] = a ... v[7] = h, renamed each round
	for r := 0; r < 64; r++ {
		if r >= 16 {
			g.schedule(r)
		}
		a, b, c, d, e, f, gg, h := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		// t1 = h + Σ1(e) + Ch(e, f, g) + K[r] + W[r]
		g.get(h)
		g.rotXor(e, 6, 11, 25, false)
		g.op(opI32Add)
		g.get(gg) // Ch = g ^ (e & (f ^ g))
		g.get(e)
		g.get(f)
		g.get(gg)
		g.op(opI32Xor, opI32And, opI32Xor, opI32Add)
		g.i32(int32(sha256K[r]))
		g.op(opI32Add)
		g.get(g.w[r%16])
		g.op(opI32Add)
		g.tee(g.t1)
		// d += t1
		g.get(d)
		g.op(opI32Add)
		g.set(d)
		// h = t1 + Σ0(a) + Maj(a, b, c): the new a, in h's local.
		g.get(g.t1)
		g.rotXor(a, 2, 13, 22, false)
		g.op(opI32Add)
		g.get(a) // Maj = (a & b) | (c & (a | b))
		g.get(b)
		g.op(opI32And)
		g.get(c)
		g.get(a)
		g.get(b)
		g.op(opI32Or, opI32And, opI32Or, opI32Add)
		g.set(h)
		v = [8]uint32{h, a, b, c, d, e, f, gg}
	}
	if v != g.v {
		panic("wasmkern: sha256 renaming does not return to the start")
	}
	for i := 0; i < 8; i++ {
		g.get(g.st)
		g.get(g.st)
		g.memOp32(opI32Load, 4*i)
		g.get(g.v[i])
		g.op(opI32Add)
		g.memOp32(opI32Store, 4*i)
	}
	g.get(g.p)
	g.i32(64)
	g.op(opI32Add)
	g.set(g.p)
	g.get(g.n)
	g.i32(1)
	g.op(opI32Sub)
	g.set(g.n)
	g.br(0)
	g.op(opEnd, opEnd)
	return g.fn
}

// schedule: W[r] = σ1(W[r-2]) + W[r-7] + σ0(W[r-15]) + W[r-16], in the ring.
func (g *sha256Gen) schedule(r int) {
	w := func(i int) uint32 { return g.w[(r+i)%16] }
	g.get(w(0)) // W[r-16]
	g.rotXor(w(-2+16), 17, 19, 10, true)
	g.op(opI32Add)
	g.get(w(-7 + 16))
	g.op(opI32Add)
	g.rotXor(w(-15+16), 7, 18, 3, true)
	g.op(opI32Add)
	g.set(w(0))
}

// rotXor pushes rotr(x, r1) ^ rotr(x, r2) ^ rotr(x, r3), or with shiftLast x >> r3 as the
// last term.
func (g *sha256Gen) rotXor(x uint32, r1, r2, r3 int32, shiftLast bool) {
	g.get(x)
	g.i32(r1)
	g.op(opI32Rotr)
	g.get(x)
	g.i32(r2)
	g.op(opI32Rotr, opI32Xor)
	g.get(x)
	g.i32(r3)
	if shiftLast {
		g.op(opI32ShrU)
	} else {
		g.op(opI32Rotr)
	}
	g.op(opI32Xor)
}

// bswap reverses the bytes of the i32 on the stack:
// (rotr(x, 8) & 0xff00ff00) | (rotl(x, 8) & 0x00ff00ff).
func (g *sha256Gen) bswap() {
	g.tee(g.t1)
	g.i32(8)
	g.op(opI32Rotr)
	g.i32(-0x00ff0100) // 0xff00ff00
	g.op(opI32And)
	g.get(g.t1)
	g.i32(8)
	g.op(opI32Rotl)
	g.i32(0x00ff00ff)
	g.op(opI32And, opI32Or)
}

// memOp32 is a 4-byte-aligned i32 load or store at the address on the stack plus off.
func (f *fn) memOp32(op byte, off int) {
	if off < 0 {
		panic("wasmkern: negative memory offset")
	}
	f.code = appendMemArg(append(f.code, op), 2, off)
}
