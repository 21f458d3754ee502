package wasmkern

// Montgomery multiplication and squaring for RSA-2048 on 28-bit limbs, written directly in
// wasm. The method is the one of jwt/fast_gen_lazy.go (product scanning with the reduction
// interleaved per column, lazy 64-bit column sums, blocks of W columns, operands padded with
// zero limbs so every inner step is the same unrolled code); what differs is what hand-written
// wasm can do and Go-compiled wasm cannot:
//
//   - every value lives in a wasm local, so the four column sums, the limb being multiplied
//     and the loop indices stay in registers (Go's wasm backend spills through its stack in
//     linear memory);
//   - one limb per 64-bit slot: a limb is a single i64.load, which the compiler folds into the
//     multiply (`imul reg, [mem]` in wazero's amd64 backend), so a product is about three
//     machine instructions;
//   - each inner step first touches the highest address it will read from each base pointer:
//     wazero then knows the rest of the step's loads from that base are in bounds and drops
//     their bounds checks (V8 uses guard pages and has none to drop);
//   - the rows that have both operand products and quotient products (all of a block's
//     quotient rows) run both in the same inner step, one sweep instead of two.
//
// That is about 1.3 machine cycles per 28x28-bit product in wazero on this machine, near
// the one 64-bit multiply per cycle the CPU issues.
//
// Fixed-width SIMD does not pay here: wasm has no 32x32->64 vector multiply that runtimes
// map to one instruction (wazero lowers i64x2.extmul_low_i32x4_u to two widenings and a
// full 64x64 multiply emulation, about 14 instructions for 2 products), and the 16x16 dot
// product (i32x4.dot_i16x8_s, one pmaddwd) needs limbs of at most 12 bits and leaves the
// reduction's sequential per-column quotients to scalar code, which eats its gain. Measured
// in docs/BENCHMARKS.md.

const (
	// Limbs is the number of 28-bit limbs of an operand: 2072 bits, so R = 2^2072 > 4n for
	// every modulus n < 2^2048, which keeps products below 2n without a final subtraction.
	Limbs = 74
	// LimbBits is the limb size; a product is below 2^56, so a column of 2*Limbs products
	// plus a carry stays below 2^64.
	LimbBits = 28
	// Pad is the number of zero limbs below and above the value in an operand buffer: the
	// inner steps read up to U+W-2 limbs below and a few above the value.
	Pad = 20
	// BufLen is the length in uint64 slots of an operand buffer: limb j of the value at
	// slot Pad+j, little-endian, every other slot zero.
	BufLen = Limbs + 2*Pad

	limbMask = 1<<LimbBits - 1

	blockW = 4  // columns per block (divides 2*Limbs)
	stepU  = 16 // operand limbs per inner step
	stepU2 = 4  // operand limbs per inner step at the end of a sweep
)

// ImportModule is the import module of the Go stubs that Splice replaces with the kernels.
const ImportModule = "gatewarden_fast"

// Kernel names, as imported by the Go stubs and exported by Module.
const (
	// Mont28Mul(z, x, y, n, q *[BufLen]uint64, n0inv uint64) sets z = x*y/R mod n, below
	// 2n, for x, y < 2n with limbs below 2^28; n0inv = -n^-1 mod 2^28; q is scratch
	// (its value limbs are overwritten, its padding must stay zero); z may alias x or y.
	Mont28Mul = "mont28_mul"
	// Mont28Sqr(z, x, n, q *[BufLen]uint64, n0inv uint64) is Mont28Mul(z, x, x, n, q,
	// n0inv), computing each cross product once.
	Mont28Sqr = "mont28_sqr"
)

func init() {
	if (2*Limbs)%blockW != 0 || stepU%stepU2 != 0 || Pad < stepU+blockW-2 || Pad < blockW+stepU2-2 {
		panic("wasmkern: inconsistent mont28 parameters")
	}
}

// mont28 generates one kernel. Parameters and locals are wasm local indices.
type mont28 struct {
	*fn
	sqr                  bool
	z, x, y, n, q, n0inv uint32 // parameters (y == x for squaring)
	k0, i, iLo, iHi, jHi uint32
	ap, bp               [2]uint32 // window addresses of the (up to) two pairs of a step
	tmp                  uint32
	carry, a, qk         uint32
	c, h                 [blockW]uint32 // column sums; x limbs near the diagonal
	nl                   [blockW]uint32 // n[0 .. W), loaded once
}

func genMont28(sqr bool) *fn {
	g := &mont28{sqr: sqr}
	if sqr {
		g.fn = newFn([]byte{typeI32, typeI32, typeI32, typeI32, typeI64}, nil)
		g.z, g.x, g.n, g.q, g.n0inv = 0, 1, 2, 3, 4
		g.y = g.x
	} else {
		g.fn = newFn([]byte{typeI32, typeI32, typeI32, typeI32, typeI32, typeI64}, nil)
		g.z, g.x, g.y, g.n, g.q, g.n0inv = 0, 1, 2, 3, 4, 5
	}
	for _, l := range []*uint32{&g.k0, &g.i, &g.iLo, &g.iHi, &g.jHi, &g.ap[0], &g.bp[0], &g.ap[1], &g.bp[1], &g.tmp} {
		*l = g.local(typeI32)
	}
	for _, l := range []*uint32{&g.carry, &g.a, &g.qk} {
		*l = g.local(typeI64)
	}
	for c := range g.c {
		g.c[c] = g.local(typeI64)
		g.nl[c] = g.local(typeI64)
	}
	if sqr {
		for d := range g.h {
			g.h[d] = g.local(typeI64)
		}
	}
	g.body()
	return g.fn
}

// body: clear q's value limbs, then blocks of W columns k0 .. k0+W-1 over 0 .. 2L-1. Column
// 2L-1 has no products; its carry out is zero as the result is below 2n < R.
func (g *mont28) body() {
	for t := 0; t < Limbs; t++ {
		g.get(g.q)
		g.i64(0)
		g.store64(8 * (Pad + t))
	}
	for c := blockW - 1; c >= 0; c-- {
		g.get(g.n)
		g.load64(8 * (Pad + c))
		g.set(g.nl[c])
	}
	g.op(opBlock, blockEmpty, opLoop, blockEmpty)
	for c := range g.c {
		g.i64(0)
		g.set(g.c[c])
	}
	// iLo = max(0, k0-L+1): the first row with a product in the block.
	g.get(g.k0)
	g.i32(Limbs - 1)
	g.op(opI32Sub)
	g.tee(g.tmp)
	g.i32(0)
	g.get(g.tmp)
	g.i32(0)
	g.op(opI32GtS, opSelect)
	g.set(g.iLo)
	// jHi = min(k0, L) - 1: the last quotient limb known before the block.
	g.get(g.k0)
	g.i32(Limbs)
	g.get(g.k0)
	g.i32(Limbs)
	g.op(opI32LtS, opSelect)
	g.i32(1)
	g.op(opI32Sub)
	g.set(g.jHi)
	if g.sqr {
		g.squareProducts()
	} else {
		g.mulProducts()
	}
	g.columns()
	g.get(g.k0)
	g.i32(blockW)
	g.op(opI32Add)
	g.tee(g.k0)
	g.i32(2 * Limbs)
	g.op(opI32LtS)
	g.brIf(0)
	g.op(opEnd, opEnd)
}

// pair is an operand pair of a step: rows of a against a window of b.
type pair struct{ a, b uint32 }

// mulProducts adds x[i]*y[k-i] to the block's columns, rows iLo .. iHi = min(L-1, k0+W-1),
// the quotient products q[i]*n[k-i], rows iLo .. jHi (jHi <= iHi), and the carry from the
// previous block. The rows both have go in one sweep, so each step runs both.
func (g *mont28) mulProducts() {
	g.get(g.carry)
	g.set(g.c[0])
	g.get(g.k0)
	g.i32(blockW - 1)
	g.op(opI32Add)
	g.tee(g.tmp)
	g.i32(Limbs - 1)
	g.get(g.tmp)
	g.i32(Limbs - 1)
	g.op(opI32LtS, opSelect)
	g.set(g.iHi)
	g.get(g.iLo)
	g.set(g.i)
	g.sweepUp([]pair{{g.x, g.y}, {g.q, g.n}}, g.jHi)
	g.sweepUp([]pair{{g.x, g.y}}, g.iHi)
}

// sweepUp runs inner steps from row i while rows remain up to hi: U rows at a time while all
// U are at most hi, then U2 at a time while the first is; the last step may run past hi, into
// zero limbs (padding, or quotient limbs not computed yet) or rows a later sweep from i
// would cover anyway.
func (g *mont28) sweepUp(ps []pair, hi uint32) {
	for pass, u := range []int{stepU, stepU2} {
		g.rowLoop(func() {
			g.get(g.i)
			if pass == 0 {
				g.i32(int32(u - 1))
				g.op(opI32Add)
			}
			g.get(hi)
			g.op(opI32GtS)
		}, func() { g.step(ps, u) }, u, opI32Add)
	}
}

// rowLoop emits the loop both sweeps share: until exit (which pushes an i32) holds, run
// body, then move g.i by u rows (advance is opI32Add or opI32Sub).
func (g *mont28) rowLoop(exit, body func(), u int, advance byte) {
	g.op(opBlock, blockEmpty, opLoop, blockEmpty)
	exit()
	g.brIf(1)
	body()
	g.get(g.i)
	g.i32(int32(u))
	g.op(advance)
	g.set(g.i)
	g.br(0)
	g.op(opEnd, opEnd)
}

// squareProducts adds the cross products x[i]*x[k-i], i < k-i, twice, the squares on the
// diagonal, the quotient products q[i]*n[k-i] of rows iLo .. jHi, and the carry. Rows below
// h = k0/2 have i < k-i in every column of the block: they go in one sweep down from h with
// the quotient products of the same rows, the row limb of x doubled; the quotient rows from
// h up follow.
func (g *mont28) squareProducts() {
	h := g.iHi // reused: h
	g.get(g.k0)
	g.i32(1)
	g.op(opI32ShrU)
	g.set(h)
	g.sweepDown([]pair{{g.x, g.x}, {g.q, g.n}}, h, true)
	// Rows h .. h+W-1: the cross products inside the block's triangle.
	g.limbAddr(g.x, h)
	g.set(g.ap[0])
	g.get(g.ap[0])
	g.load64(8 * (blockW - 1))
	g.set(g.h[blockW-1])
	for d := 0; d < blockW-1; d++ {
		g.get(g.ap[0])
		g.load64(8 * d)
		g.set(g.h[d])
	}
	for c := 0; c < blockW; c++ {
		if c%2 == 0 {
			g.madd(g.c[c], g.h[c/2], func() { g.get(g.h[c/2]) })
		}
	}
	for d := 0; d < blockW/2; d++ {
		g.get(g.h[d])
		g.i64(1)
		g.op(opI64Shl)
		g.set(g.a)
		for c := 2*d + 1; c < blockW; c++ {
			g.madd(g.c[c], g.a, func() { g.get(g.h[c-d]) })
		}
	}
	g.get(g.c[0])
	g.get(g.carry)
	g.op(opI64Add)
	g.set(g.c[0])
	g.get(h)
	g.set(g.i)
	g.sweepUp([]pair{{g.q, g.n}}, g.jHi)
}

// sweepDown runs inner steps over the rows below top, U at a time down from top-U while the
// lowest is at least iLo, then U2 at a time while any is; rows below iLo (or below 0) meet
// zero limbs. With double, the first pair's row limbs are doubled.
func (g *mont28) sweepDown(ps []pair, top uint32, double bool) {
	g.get(top)
	g.i32(stepU)
	g.op(opI32Sub)
	g.set(g.i)
	for pass, u := range []int{stepU, stepU2} {
		if pass == 1 {
			g.get(g.i)
			g.i32(stepU - stepU2)
			g.op(opI32Add)
			g.set(g.i)
		}
		g.rowLoop(func() {
			g.get(g.i)
			if pass == 1 {
				g.i32(stepU2)
				g.op(opI32Add)
			}
			g.get(g.iLo)
			if pass == 0 {
				g.op(opI32LtS)
			} else {
				g.op(opI32LeS)
			}
		}, func() { g.stepDouble(ps, u, double) }, u, opI32Sub)
	}
}

// limbAddr pushes the address of limb idx (a local, may be negative down to -Pad) of the
// operand buffer at base.
func (g *mont28) limbAddr(base, idx uint32) {
	g.get(base)
	g.get(idx)
	g.i32(Pad)
	g.op(opI32Add)
	g.i32(3)
	g.op(opI32Shl, opI32Add)
}

// madd: c += a * (value pushed by b).
func (g *mont28) madd(c, a uint32, b func()) {
	g.get(c)
	g.get(a)
	b()
	g.op(opI64Mul, opI64Add)
	g.set(c)
}

// step adds, for each pair (A, B), u < U and each block column c, A[i+u]*B[k0+c-i-u] to
// column c. It reads A[i .. i+U) and B[k0-i-U+1 .. k0-i+W).
func (g *mont28) step(ps []pair, u int) { g.stepDouble(ps, u, false) }

// stepDouble is step, with double the first pair's A limbs doubled.
func (g *mont28) stepDouble(ps []pair, u int, double bool) {
	for k, p := range ps {
		g.limbAddr(p.a, g.i)
		g.set(g.ap[k])
		// bp = address of B[k0-i-(U-1)]
		g.get(p.b)
		g.get(g.k0)
		g.get(g.i)
		g.op(opI32Sub)
		g.i32(int32(Pad - (u - 1)))
		g.op(opI32Add)
		g.i32(3)
		g.op(opI32Shl, opI32Add)
		g.set(g.bp[k])
		// Touch the highest limb of each window first: wazero then elides the bounds
		// checks of the loads below it from the same base.
		g.get(g.ap[k])
		g.load64(8 * (u - 1))
		g.op(opDrop)
		g.get(g.bp[k])
		g.load64(8 * (u + blockW - 2))
		g.op(opDrop)
	}
	for r := 0; r < u; r++ {
		for k := range ps {
			g.get(g.ap[k])
			g.load64(8 * r)
			if double && k == 0 {
				g.i64(1)
				g.op(opI64Shl)
			}
			g.set(g.a)
			for c := 0; c < blockW; c++ {
				j := c - r + u - 1
				g.madd(g.c[c], g.a, func() {
					g.get(g.bp[k])
					g.load64(8 * j)
				})
			}
		}
	}
}

// columns finishes the block column by column: below column L, the quotient limb
// q[k] = c*n0inv mod 2^28, stored, and its products with n[0..] in this block's columns
// (c becomes divisible by 2^28); from column L on, the result limb z[k-L] = c mod 2^28.
// Then the carry c >> 28 goes to the next column. Blocks wholly below or above L (all but
// one) take a path without per-column branches.
func (g *mont28) columns() {
	// if k0+W <= L { quotients } else if k0 >= L { results } else { per column }
	g.get(g.k0)
	g.i32(Limbs - blockW)
	g.op(opI32LeS, opIf, blockEmpty)
	g.limbAddr(g.q, g.k0)
	g.set(g.ap[0])
	for c := 0; c < blockW; c++ {
		g.quotient(c)
		g.carryOut(c)
	}
	g.op(opElse)
	g.get(g.k0)
	g.i32(Limbs)
	g.op(opI32GeS, opIf, blockEmpty)
	g.resultBase()
	for c := 0; c < blockW; c++ {
		g.result(c)
		g.carryOut(c)
	}
	g.op(opElse)
	g.limbAddr(g.q, g.k0)
	g.set(g.ap[0])
	g.resultBase()
	for c := 0; c < blockW; c++ {
		g.get(g.k0)
		g.i32(int32(Limbs - c))
		g.op(opI32LtS, opIf, blockEmpty)
		g.quotient(c)
		g.op(opElse)
		g.result(c)
		g.op(opEnd)
		g.carryOut(c)
	}
	g.op(opEnd, opEnd)
}

// quotient: column c's quotient limb, stored at ap[0] (= &q[k0]) + 8c, and its products
// with n[0 .. W-c) (in the locals nl) added to columns c .. W-1.
func (g *mont28) quotient(c int) {
	g.get(g.c[c])
	g.get(g.n0inv)
	g.op(opI64Mul)
	g.i64(limbMask)
	g.op(opI64And)
	g.set(g.qk)
	g.get(g.ap[0])
	g.get(g.qk)
	g.store64(8 * c)
	for c2 := c; c2 < blockW; c2++ {
		g.madd(g.c[c2], g.qk, func() { g.get(g.nl[c2-c]) })
	}
}

// resultBase sets bp[0] to the address of z[k0-L] (which is at least z's first value limb
// for the columns k >= L that use it).
func (g *mont28) resultBase() {
	g.get(g.z)
	g.get(g.k0)
	g.i32(Pad - Limbs)
	g.op(opI32Add)
	g.i32(3)
	g.op(opI32Shl, opI32Add)
	g.set(g.bp[0])
}

// result stores column c's result limb at bp[0] + 8c.
func (g *mont28) result(c int) {
	g.get(g.bp[0])
	g.get(g.c[c])
	g.i64(limbMask)
	g.op(opI64And)
	g.store64(8 * c)
}

// carryOut moves column c's carry to the next column (or the next block).
func (g *mont28) carryOut(c int) {
	g.get(g.c[c])
	g.i64(LimbBits)
	g.op(opI64ShrU)
	g.set(g.carry)
	if c+1 < blockW {
		g.get(g.c[c+1])
		g.get(g.carry)
		g.op(opI64Add)
		g.set(g.c[c+1])
	}
}
