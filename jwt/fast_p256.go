package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"sync"
)

// ES256 verification on P-256 with 32-bit limbs and precomputed tables, for wasm.
// Go's crypto/ecdsa uses 64-bit limbs (bits.Mul64, emulated in wasm); here field
// and scalar arithmetic are Montgomery multiplications on 8 x 32-bit limbs (mont8)
// and u1*G + u2*Q is computed from per-point comb tables: for a key, 43 windows of
// 6 bits with signed digits, each window with the 32 multiples j*64^i*P in affine
// form, so a scalar multiplication is at most 43 mixed additions and no doublings
// (G: 37 windows of 7 bits). G's table is built once; Q's when the key is parsed.
// Formulas: the Explicit-Formulas Database (dbl-2001-b for a=-3, add-2007-bl,
// madd-2004-hmv). The result must equal crypto/ecdsa's; differential tests and
// fuzzing compare them.

type fe = [8]uint32

// Curve constants, little-endian 32-bit limbs.
var (
	p256P  = fe{0xffffffff, 0xffffffff, 0xffffffff, 0, 0, 0, 1, 0xffffffff}
	p256N  = fe{0xfc632551, 0xf3b9cac2, 0xa7179e84, 0xbce6faad, 0xffffffff, 0xffffffff, 0, 0xffffffff}
	p256P0 = uint32(1) // -p^-1 mod 2^32 (p = -1 mod 2^32)
	p256N0 = negInv32(p256N[0])

	p256RRp fe // 2^512 mod p
	p256RRn fe // 2^512 mod n
	p256One fe // 1 in Montgomery form mod p (2^256 mod p)
	p256B   fe // curve b, Montgomery form

)

func negInv32(x uint32) uint32 {
	inv := x
	for i := 0; i < 5; i++ {
		inv *= 2 - x*inv
	}
	return -inv
}

func init() {
	params := elliptic.P256().Params()
	rr := func(m []byte) fe {
		// 2^512 mod m via math/big-free doubling: start from 1 and double 512 times.
		var mod fe
		feFromBytes(&mod, m)
		var r fe
		r[0] = 1
		for i := 0; i < 512; i++ {
			r = addMod(&r, &r, &mod)
		}
		return r
	}
	p256RRp = rr(params.P.FillBytes(make([]byte, 32)))
	p256RRn = rr(params.N.FillBytes(make([]byte, 32)))
	var one fe
	one[0] = 1
	mont8(&p256One, &one, &p256RRp, &p256P, p256P0)
	var b fe
	feFromBytes(&b, params.B.FillBytes(make([]byte, 32)))
	mont8(&p256B, &b, &p256RRp, &p256P, p256P0)
}

// feFromBytes reads 32 big-endian bytes.
func feFromBytes(z *fe, b []byte) {
	for i := 0; i < 8; i++ {
		o := 28 - 4*i
		z[i] = uint32(b[o])<<24 | uint32(b[o+1])<<16 | uint32(b[o+2])<<8 | uint32(b[o+3])
	}
}

func feLess(x, y *fe) bool {
	for i := 7; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func feIsZero(x *fe) bool {
	return x[0]|x[1]|x[2]|x[3]|x[4]|x[5]|x[6]|x[7] == 0
}

// addMod returns x+y mod m for x, y < m. Unrolled into locals (see mont8).
func addMod(x, y, m *fe) fe {
	var c uint64
	s0 := uint64(x[0]) + uint64(y[0])
	s1 := uint64(x[1]) + uint64(y[1]) + s0>>32
	s2 := uint64(x[2]) + uint64(y[2]) + s1>>32
	s3 := uint64(x[3]) + uint64(y[3]) + s2>>32
	s4 := uint64(x[4]) + uint64(y[4]) + s3>>32
	s5 := uint64(x[5]) + uint64(y[5]) + s4>>32
	s6 := uint64(x[6]) + uint64(y[6]) + s5>>32
	s7 := uint64(x[7]) + uint64(y[7]) + s6>>32
	c = s7 >> 32
	z := fe{uint32(s0), uint32(s1), uint32(s2), uint32(s3), uint32(s4), uint32(s5), uint32(s6), uint32(s7)}
	if c != 0 || !feLess(&z, m) {
		z = subNoMod(&z, m)
	}
	return z
}

// subNoMod returns x-y mod 2^256.
func subNoMod(x, y *fe) fe {
	d0 := uint64(x[0]) - uint64(y[0])
	d1 := uint64(x[1]) - uint64(y[1]) - d0>>63
	d2 := uint64(x[2]) - uint64(y[2]) - d1>>63
	d3 := uint64(x[3]) - uint64(y[3]) - d2>>63
	d4 := uint64(x[4]) - uint64(y[4]) - d3>>63
	d5 := uint64(x[5]) - uint64(y[5]) - d4>>63
	d6 := uint64(x[6]) - uint64(y[6]) - d5>>63
	d7 := uint64(x[7]) - uint64(y[7]) - d6>>63
	return fe{uint32(d0), uint32(d1), uint32(d2), uint32(d3), uint32(d4), uint32(d5), uint32(d6), uint32(d7)}
}

// subMod returns x-y mod m for x, y < m.
func subMod(x, y, m *fe) fe {
	z := subNoMod(x, y)
	if feLess(x, y) {
		s0 := uint64(z[0]) + uint64(m[0])
		s1 := uint64(z[1]) + uint64(m[1]) + s0>>32
		s2 := uint64(z[2]) + uint64(m[2]) + s1>>32
		s3 := uint64(z[3]) + uint64(m[3]) + s2>>32
		s4 := uint64(z[4]) + uint64(m[4]) + s3>>32
		s5 := uint64(z[5]) + uint64(m[5]) + s4>>32
		s6 := uint64(z[6]) + uint64(m[6]) + s5>>32
		s7 := uint64(z[7]) + uint64(m[7]) + s6>>32
		z = fe{uint32(s0), uint32(s1), uint32(s2), uint32(s3), uint32(s4), uint32(s5), uint32(s6), uint32(s7)}
	}
	return z
}

// fmul, fadd and fsub are the field operations mod p (Montgomery form), with the
// prime's limbs as constants (p256MulMont is generated, see fast_gen.go).
func fmul(x, y *fe) fe {
	var z fe
	p256MulMont(&z, x, y)
	return z
}

// fadd returns x+y mod p for x, y < p.
func fadd(x, y *fe) fe {
	var z fe
	feAddTo(&z, x, y)
	return z
}

// fsub returns x-y mod p for x, y < p.
func fsub(x, y *fe) fe {
	var z fe
	feSubTo(&z, x, y)
	return z
}

// feAddTo sets z = x+y mod p for x, y < p; z may alias x or y. The point formulas
// use these pointer-output forms: in Go's wasm output a returned [8]uint32 is
// copied through the stack once more.
func feAddTo(z, x, y *fe) {
	s0 := uint64(x[0]) + uint64(y[0])
	s1 := uint64(x[1]) + uint64(y[1]) + s0>>32
	s2 := uint64(x[2]) + uint64(y[2]) + s1>>32
	s3 := uint64(x[3]) + uint64(y[3]) + s2>>32
	s4 := uint64(x[4]) + uint64(y[4]) + s3>>32
	s5 := uint64(x[5]) + uint64(y[5]) + s4>>32
	s6 := uint64(x[6]) + uint64(y[6]) + s5>>32
	s7 := uint64(x[7]) + uint64(y[7]) + s6>>32
	// Subtract p = 2^256 - 2^224 + 2^192 + 2^96 - 1 from the low 256 bits; keep the
	// difference when the sum carried out or the subtraction did not borrow.
	d0 := s0&0xffffffff - 0xffffffff
	d1 := s1&0xffffffff - 0xffffffff - d0>>63
	d2 := s2&0xffffffff - 0xffffffff - d1>>63
	d3 := s3&0xffffffff - d2>>63
	d4 := s4&0xffffffff - d3>>63
	d5 := s5&0xffffffff - d4>>63
	d6 := s6&0xffffffff - 1 - d5>>63
	d7 := s7&0xffffffff - 0xffffffff - d6>>63
	if s7>>32 != 0 || d7>>63 == 0 {
		s0, s1, s2, s3, s4, s5, s6, s7 = d0, d1, d2, d3, d4, d5, d6, d7
	}
	z[0], z[1], z[2], z[3] = uint32(s0), uint32(s1), uint32(s2), uint32(s3)
	z[4], z[5], z[6], z[7] = uint32(s4), uint32(s5), uint32(s6), uint32(s7)
}

// feSubTo sets z = x-y mod p for x, y < p; z may alias x or y.
func feSubTo(z, x, y *fe) {
	d0 := uint64(x[0]) - uint64(y[0])
	d1 := uint64(x[1]) - uint64(y[1]) - d0>>63
	d2 := uint64(x[2]) - uint64(y[2]) - d1>>63
	d3 := uint64(x[3]) - uint64(y[3]) - d2>>63
	d4 := uint64(x[4]) - uint64(y[4]) - d3>>63
	d5 := uint64(x[5]) - uint64(y[5]) - d4>>63
	d6 := uint64(x[6]) - uint64(y[6]) - d5>>63
	d7 := uint64(x[7]) - uint64(y[7]) - d6>>63
	if d7>>63 != 0 { // x < y: add p back (mod 2^256)
		s := d0&0xffffffff + 0xffffffff
		d0 = s
		s = d1&0xffffffff + 0xffffffff + s>>32
		d1 = s
		s = d2&0xffffffff + 0xffffffff + s>>32
		d2 = s
		s = d3&0xffffffff + s>>32
		d3 = s
		s = d4&0xffffffff + s>>32
		d4 = s
		s = d5&0xffffffff + s>>32
		d5 = s
		s = d6&0xffffffff + 1 + s>>32
		d6 = s
		d7 = d7&0xffffffff + 0xffffffff + s>>32
	}
	z[0], z[1], z[2], z[3] = uint32(d0), uint32(d1), uint32(d2), uint32(d3)
	z[4], z[5], z[6], z[7] = uint32(d4), uint32(d5), uint32(d6), uint32(d7)
}

// p256CondSubP reduces hi*2^256 + z, known to be < 2p, to z mod p: it subtracts p
// once when hi is set or z >= p (no borrow out of z - p). Differences of 32-bit
// limbs minus a borrow wrap to 2^64 - small when negative, so bit 63 is the borrow.
func p256CondSubP(z *fe, hi uint64) {
	d0 := uint64(z[0]) - 0xffffffff
	d1 := uint64(z[1]) - 0xffffffff - d0>>63
	d2 := uint64(z[2]) - 0xffffffff - d1>>63
	d3 := uint64(z[3]) - d2>>63
	d4 := uint64(z[4]) - d3>>63
	d5 := uint64(z[5]) - d4>>63
	d6 := uint64(z[6]) - 1 - d5>>63
	d7 := uint64(z[7]) - 0xffffffff - d6>>63
	if hi != 0 || d7>>63 == 0 {
		z[0], z[1], z[2], z[3] = uint32(d0), uint32(d1), uint32(d2), uint32(d3)
		z[4], z[5], z[6], z[7] = uint32(d4), uint32(d5), uint32(d6), uint32(d7)
	}
}

// finv returns x^(p-2) (Montgomery form in and out); x must be non-zero.
func finv(x *fe) fe { return powMont(x, &p256P, p256P0, &p256One) }

// powMont returns x^(m-2) mod m in Montgomery form; one is 1 in Montgomery form.
func powMont(x, m *fe, m0 uint32, one *fe) fe {
	e := *m
	e[0] -= 2 // m is odd and > 2: no borrow
	acc := *one
	for i := 255; i >= 0; i-- {
		mont8(&acc, &acc, &acc, m, m0)
		if e[i/32]>>(uint(i)%32)&1 == 1 {
			mont8(&acc, &acc, x, m, m0)
		}
	}
	return acc
}

// jacPoint is a point in Jacobian coordinates (Montgomery form); Z = 0 is infinity.
type jacPoint struct{ x, y, z fe }

// affPoint is an affine point (Montgomery form), never infinity.
type affPoint struct{ x, y fe }

func (p *jacPoint) isInf() bool { return feIsZero(&p.z) }

// double sets p = 2p (dbl-2001-b, a = -3).
func (p *jacPoint) double() {
	if p.isInf() {
		return
	}
	var delta, gamma, beta, alpha, t fe
	p256MulMont(&delta, &p.z, &p.z)  // Z^2
	p256MulMont(&gamma, &p.y, &p.y)  // Y^2
	p256MulMont(&beta, &p.x, &gamma) // X*Y^2
	feSubTo(&t, &p.x, &delta)
	feAddTo(&alpha, &p.x, &delta)
	p256MulMont(&alpha, &alpha, &t) // (X-Z^2)(X+Z^2)
	feAddTo(&t, &alpha, &alpha)
	feAddTo(&alpha, &alpha, &t) // alpha = 3(X-Z^2)(X+Z^2)
	feAddTo(&p.z, &p.z, &p.y)
	p256MulMont(&p.z, &p.z, &p.z)
	feSubTo(&p.z, &p.z, &gamma)
	feSubTo(&p.z, &p.z, &delta) // Z3 = (Y+Z)^2 - Y^2 - Z^2
	feAddTo(&beta, &beta, &beta)
	feAddTo(&beta, &beta, &beta) // 4beta
	p256MulMont(&p.x, &alpha, &alpha)
	feSubTo(&p.x, &p.x, &beta)
	feSubTo(&p.x, &p.x, &beta) // X3 = alpha^2 - 8beta
	feSubTo(&beta, &beta, &p.x)
	p256MulMont(&p.y, &alpha, &beta) // alpha*(4beta - X3)
	p256MulMont(&gamma, &gamma, &gamma)
	feAddTo(&gamma, &gamma, &gamma)
	feAddTo(&gamma, &gamma, &gamma)
	feAddTo(&gamma, &gamma, &gamma) // 8gamma^2
	feSubTo(&p.y, &p.y, &gamma)     // Y3
}

// add sets p = p + q (add-2007-bl), handling infinity and p == q.
func (p *jacPoint) add(q *jacPoint) {
	if q.isInf() {
		return
	}
	if p.isInf() {
		*p = *q
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, r, i, j fe
	p256MulMont(&z1z1, &p.z, &p.z)
	p256MulMont(&z2z2, &q.z, &q.z)
	p256MulMont(&u1, &p.x, &z2z2)
	p256MulMont(&u2, &q.x, &z1z1)
	p256MulMont(&s1, &p.y, &q.z)
	p256MulMont(&s1, &s1, &z2z2)
	p256MulMont(&s2, &q.y, &p.z)
	p256MulMont(&s2, &s2, &z1z1)
	feSubTo(&h, &u2, &u1)
	feSubTo(&r, &s2, &s1)
	if feIsZero(&h) {
		if feIsZero(&r) {
			p.double()
		} else {
			*p = jacPoint{}
		}
		return
	}
	feAddTo(&r, &r, &r)
	feAddTo(&i, &h, &h)
	p256MulMont(&i, &i, &i)   // I = (2H)^2
	p256MulMont(&j, &h, &i)   // J = H*I
	p256MulMont(&u1, &u1, &i) // V = U1*I
	// Z3 = ((Z1+Z2)^2 - Z1Z1 - Z2Z2)*H, before X1 and Z1 are overwritten.
	feAddTo(&p.z, &p.z, &q.z)
	p256MulMont(&p.z, &p.z, &p.z)
	feSubTo(&p.z, &p.z, &z1z1)
	feSubTo(&p.z, &p.z, &z2z2)
	p256MulMont(&p.z, &p.z, &h)
	p256MulMont(&p.x, &r, &r)
	feSubTo(&p.x, &p.x, &j)
	feSubTo(&p.x, &p.x, &u1)
	feSubTo(&p.x, &p.x, &u1) // X3 = R^2 - J - 2V
	feSubTo(&u1, &u1, &p.x)
	p256MulMont(&p.y, &r, &u1) // R*(V - X3)
	p256MulMont(&s1, &s1, &j)
	feAddTo(&s1, &s1, &s1)
	feSubTo(&p.y, &p.y, &s1) // Y3 = R*(V - X3) - 2*S1*J
}

// addAffine sets p = p + q, handling infinity and p == q.
func (p *jacPoint) addAffine(q *affPoint) { p.addAffineSigned(q, false) }

// addAffineSigned sets p = q + p, or q - p when negP is set (mixed addition,
// madd-2004-hmv: 8M + 3S and 7 additions or subtractions, half the linear
// operations of madd-2007-bl). It handles infinity and q == ±p. Negating p costs
// nothing here: -p = (X, -Y, Z) and Y appears only in two sums, whose signs flip.
// The scalar multiplications use this to add a negated table point: p - q is
// -(q - p), so they keep the accumulator's sign aside instead of negating q.
func (p *jacPoint) addAffineSigned(q *affPoint, negP bool) {
	if p.isInf() {
		p.x, p.y, p.z = q.x, q.y, p256One
		return
	}
	var t1, t2, t3, t4 fe
	p256MulMont(&t1, &p.z, &p.z) // Z1^2
	p256MulMont(&t2, &t1, &p.z)  // Z1^3
	p256MulMont(&t1, &t1, &q.x)  // U2 = x2*Z1^2
	p256MulMont(&t2, &t2, &q.y)  // S2 = y2*Z1^3
	feSubTo(&t1, &t1, &p.x)      // H = U2 - X1
	if negP {
		feAddTo(&t2, &t2, &p.y) // R = S2 - (-Y1)
	} else {
		feSubTo(&t2, &t2, &p.y) // R = S2 - Y1
	}
	if feIsZero(&t1) {
		if feIsZero(&t2) { // ±p == q
			p.x, p.y, p.z = q.x, q.y, p256One
			p.double()
		} else { // ±p == -q
			*p = jacPoint{}
		}
		return
	}
	p256MulMont(&p.z, &p.z, &t1) // Z3 = Z1*H
	p256MulMont(&t3, &t1, &t1)   // H^2
	p256MulMont(&t4, &t3, &t1)   // H^3
	p256MulMont(&t3, &t3, &p.x)  // V = X1*H^2
	p256MulMont(&p.x, &t2, &t2)  // R^2
	feSubTo(&p.x, &p.x, &t3)
	feSubTo(&p.x, &p.x, &t3)
	feSubTo(&p.x, &p.x, &t4)    // X3 = R^2 - 2V - H^3
	feSubTo(&t3, &t3, &p.x)     // V - X3
	p256MulMont(&t3, &t3, &t2)  // R*(V - X3)
	p256MulMont(&t4, &t4, &p.y) // H^3*Y1
	if negP {
		feAddTo(&p.y, &t3, &t4) // Y3 = R*(V - X3) - H^3*(-Y1)
	} else {
		feSubTo(&p.y, &t3, &t4) // Y3 = R*(V - X3) - H^3*Y1
	}
}

// Comb table shape: p256Windows windows of p256WindowBits bits with signed digits
// in [-32, 32], so each window stores only the multiples 1..32 (a negative digit
// adds the negated point, (x, -y), for free). 43 windows of 6 bits cover 258 bits:
// a 256-bit scalar plus the carry the signed recoding can push out of the top.
// Six bits rather than five: 43 instead of 52 additions per verification (about
// 14 us in wasm) for an 88 KB instead of 53 KB table per key, built in about
// 1.5x the time when the key is parsed.
const (
	p256WindowBits = 6
	p256Windows    = 43
	p256Entries    = 1 << (p256WindowBits - 1) // 32
)

// p256Table holds j*64^i*P for i in 0..42, j in 1..32, affine.
type p256Table [p256Windows][p256Entries]affPoint

// newP256Table builds the 6-bit comb table of the affine point (x, y)
// (Montgomery form).
func newP256Table(x, y *fe) *p256Table {
	c := newP256Comb(x, y, p256WindowBits)
	t := new(p256Table)
	for i := range t {
		copy(t[i][:], c.pts[i*p256Entries:(i+1)*p256Entries])
	}
	return t
}

// p256Comb is a signed-digit comb table with windows of any width from 2 to 8
// bits: pts[i*entries+j-1] = j*2^(bits*i)*P for j in 1..entries = 2^(bits-1), over
// enough windows for a 256-bit scalar plus the recoding carry. G uses 7-bit
// windows (37 windows x 64 points, 152 KB, built once per VM) so that u1*G takes
// at most 37 mixed additions; keys use the 6-bit p256Table (88 KB each).
type p256Comb struct {
	bits, windows, entries int
	pts                    []affPoint
}

// newP256Comb builds the comb table of the affine point (x, y) (Montgomery form).
func newP256Comb(x, y *fe, bits int) *p256Comb {
	windows := (257 + bits - 1) / bits
	entries := 1 << (bits - 1)
	total := windows * entries
	jac := make([]jacPoint, total)
	base := jacPoint{*x, *y, p256One}
	for i := 0; i < windows; i++ {
		row := jac[i*entries : (i+1)*entries]
		row[0] = base
		for j := 1; j < entries; j++ {
			row[j] = row[j-1]
			row[j].add(&base)
		}
		for k := 0; k < bits; k++ {
			base.double()
		}
	}
	// Batch normalisation (Montgomery's trick): one inversion for all points.
	// No entry is infinity: the group has prime order n > 2^8 and n does not
	// divide j*2^(bits*i) for j <= 2^(bits-1).
	prefix := make([]fe, total)
	acc := p256One
	for k := 0; k < total; k++ {
		prefix[k] = acc
		p256MulMont(&acc, &acc, &jac[k].z)
	}
	inv := finv(&acc)
	c := &p256Comb{bits: bits, windows: windows, entries: entries, pts: make([]affPoint, total)}
	var zinv, z2 fe
	for k := total - 1; k >= 0; k-- {
		pt, out := &jac[k], &c.pts[k]
		p256MulMont(&zinv, &inv, &prefix[k])
		p256MulMont(&inv, &inv, &pt.z)
		p256MulMont(&z2, &zinv, &zinv)
		p256MulMont(&out.x, &pt.x, &z2)
		p256MulMont(&z2, &z2, &zinv)
		p256MulMont(&out.y, &pt.y, &z2)
	}
	return c
}

// addScalarMult adds k*P to acc; k is little-endian limbs (< 2^256). Digits are
// read and recoded as in p256Table.addScalarMult.
func (c *p256Comb) addScalarMult(acc *jacPoint, k *fe) {
	bits := uint(c.bits)
	full := uint32(1) << bits
	var carry uint32
	neg := false // the sum so far is -acc (see addAffineSigned)
	for i := 0; i < c.windows; i++ {
		bit := bits * uint(i)
		limb, off := bit/32, bit%32
		var d uint32
		if limb < 8 {
			d = k[limb] >> off
			if off > 32-bits && limb < 7 {
				d |= k[limb+1] << (32 - off)
			}
		}
		d = d&(full-1) + carry
		carry = 0
		row := c.pts[i*c.entries : (i+1)*c.entries]
		if d > uint32(c.entries) {
			carry = 1
			if d < full {
				// acc is sign*A; sign*A - Q = -(Q - sign*A).
				acc.addAffineSigned(&row[full-d-1], !neg)
				neg = true
			}
		} else if d != 0 {
			acc.addAffineSigned(&row[d-1], neg)
			neg = false
		}
	}
	acc.fixSign(neg)
	// bits*(windows-1) >= 257-bits, so the top window holds at most bits-1 bits of
	// k plus a carry, which is <= entries: no carry out.
}

// p256GCombBits is the window width of G's wide comb table.
const p256GCombBits = 7

var (
	p256GCombOnce sync.Once
	p256GCombTab  *p256Comb
)

// p256GComb returns G's 7-bit comb table, built on first use.
func p256GComb() *p256Comb {
	p256GCombOnce.Do(func() {
		gx, gy := p256GMont()
		p256GCombTab = newP256Comb(&gx, &gy, p256GCombBits)
	})
	return p256GCombTab
}

// p256GMont returns G's affine coordinates in Montgomery form.
func p256GMont() (fe, fe) {
	params := elliptic.P256().Params()
	var gx, gy fe
	feFromBytes(&gx, params.Gx.FillBytes(make([]byte, 32)))
	feFromBytes(&gy, params.Gy.FillBytes(make([]byte, 32)))
	mont8(&gx, &gx, &p256RRp, &p256P, p256P0)
	mont8(&gy, &gy, &p256RRp, &p256P, p256P0)
	return gx, gy
}

// addScalarMult adds k*P to acc using P's table; k is little-endian limbs (< 2^256).
// Windows are read as 6-bit digits d in [0, 63] plus the carry from below; d > 32
// becomes d-64 with a carry of 1 into the next window.
func (t *p256Table) addScalarMult(acc *jacPoint, k *fe) {
	var carry uint32
	neg := false // the sum so far is -acc (see addAffineSigned)
	for i := 0; i < p256Windows; i++ {
		bit := uint(p256WindowBits * i)
		limb, off := bit/32, bit%32
		var d uint32
		if limb < 8 {
			d = k[limb] >> off
			if off > 32-p256WindowBits && limb < 7 {
				d |= k[limb+1] << (32 - off)
			}
		}
		d = d&(1<<p256WindowBits-1) + carry
		carry = 0
		if d > p256Entries {
			// Digit d-64 (in [-31, 0]; d = 64 only with a carry in): add
			// -(64-d)*P and carry 1.
			carry = 1
			if d < 1<<p256WindowBits {
				acc.addAffineSigned(&t[i][(1<<p256WindowBits)-d-1], !neg)
				neg = true
			}
		} else if d != 0 {
			acc.addAffineSigned(&t[i][d-1], neg)
			neg = false
		}
	}
	acc.fixSign(neg)
	// The top window holds bits 252..255 plus a carry: d <= 16, no carry out.
}

var feZero fe

// fixSign negates p when neg is set (Y of infinity stays as it is: Z = 0 decides).
// With the recodings here the last digit added is positive (a negative digit
// carries into a higher window, and the top window never overflows), so neg ends
// false; the scalar multiplications still call it rather than rely on that.
func (p *jacPoint) fixSign(neg bool) {
	if neg {
		feSubTo(&p.y, &feZero, &p.y)
	}
}

var (
	p256GOnce  sync.Once
	p256GTable *p256Table
)

// p256G returns G's 6-bit table, the same shape as a key's. Verification uses
// p256GComb; tests and benchmarks use this one to check and time p256Table.
func p256G() *p256Table {
	p256GOnce.Do(func() {
		gx, gy := p256GMont()
		p256GTable = newP256Table(&gx, &gy)
	})
	return p256GTable
}

// p256Verifier verifies ES256 signatures for one public key.
type p256Verifier struct{ q *p256Table }

// newP256Verifier precomputes the table of a validated P-256 public key.
func newP256Verifier(pub *ecdsa.PublicKey) *p256Verifier {
	if pub.Curve != elliptic.P256() {
		return nil
	}
	pt, err := pub.Bytes() // 0x04 || X || Y, validated on parse
	if err != nil || len(pt) != 65 {
		return nil
	}
	var x, y fe
	feFromBytes(&x, pt[1:33])
	feFromBytes(&y, pt[33:])
	mont8(&x, &x, &p256RRp, &p256P, p256P0)
	mont8(&y, &y, &p256RRp, &p256P, p256P0)
	p256GComb()
	return &p256Verifier{q: newP256Table(&x, &y)}
}

// verify checks sig = R||S (64 bytes) over a SHA-256 digest (FIPS 186-5 6.4.2).
func (v *p256Verifier) verify(digest, sig []byte) bool {
	if len(sig) != 64 || len(digest) != 32 {
		return false
	}
	var r, s, e fe
	feFromBytes(&r, sig[:32])
	feFromBytes(&s, sig[32:])
	if feIsZero(&r) || feIsZero(&s) || !feLess(&r, &p256N) || !feLess(&s, &p256N) {
		return false
	}
	feFromBytes(&e, digest)
	if !feLess(&e, &p256N) { // e < 2^256 < 2n
		e = subMod(&e, &p256N, &p256N)
	}
	// w = s^-1 mod n (s is public: variable time is fine).
	w, ok := p256InvN(&s)
	if !ok {
		return false
	}
	mont8(&w, &w, &p256RRn, &p256N, p256N0) // w*R
	// u1 = e*w, u2 = r*w: mont8(e, w*R) = e*w (plain form).
	var u1, u2 fe
	mont8(&u1, &e, &w, &p256N, p256N0)
	mont8(&u2, &r, &w, &p256N, p256N0)
	var acc jacPoint
	p256GComb().addScalarMult(&acc, &u1)
	v.q.addScalarMult(&acc, &u2)
	if acc.isInf() {
		return false
	}
	// Accept iff x(acc) mod n == r, i.e. X == r'*Z^2 for r' in {r, r+n} (r' < p),
	// which avoids an inversion.
	z2 := fmul(&acc.z, &acc.z)
	check := func(c *fe) bool {
		var cm fe
		mont8(&cm, c, &p256RRp, &p256P, p256P0)
		cz := fmul(&cm, &z2)
		return cz == acc.x
	}
	if check(&r) {
		return true
	}
	// r + n < p only when r < p - n.
	pn := subMod(&p256P, &p256N, &p256P)
	if feLess(&r, &pn) {
		rn := addMod(&r, &p256N, &p256P)
		return check(&rn)
	}
	return false
}
