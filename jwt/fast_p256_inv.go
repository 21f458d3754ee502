package jwt

import "math/bits"

// Inversion mod the P-256 group order n for ES256 verification (w = s^-1), with
// Bernstein and Yang's divsteps ("Fast constant-time gcd computation and modular
// inversion", 2019) in batches of 30 on 9 signed 30-bit limbs: every product is
// 30x30 bits and every sum fits an int64, which wasm has natively, and nothing is
// allocated. s is public, so the loop stops as soon as g is zero (variable time).
// This replaces math/big's ModInverse (about 25 us and 11 allocations in wasm).

// s30 is a signed integer in 9 limbs of 30 bits, little-endian: limbs 0..7 are in
// [0, 2^30) and limb 8 holds the signed rest.
type s30 [9]int32

const (
	m30        = 1<<30 - 1
	invBatches = 25 // 750 divsteps; the half-delta variant's bound for 256-bit inputs is 590
)

// p256N30 is n in s30 form; p256N30Inv is n^-1 mod 2^30.
var (
	p256N30    = s30FromFe(&p256N)
	p256N30Inv = func() uint32 {
		inv := p256N[0] // Newton: each step doubles the correct low bits
		for i := 0; i < 5; i++ {
			inv *= 2 - p256N[0]*inv
		}
		return inv & m30
	}()
)

// s30FromFe converts x < 2^256 to s30 form.
func s30FromFe(x *fe) s30 {
	var r s30
	var acc uint64
	n, j := uint(0), 0
	for i := 0; i < 8; i++ {
		acc |= uint64(x[i]) << n
		n += 32
		for n >= 30 {
			r[j] = int32(acc & m30)
			acc >>= 30
			n -= 30
			j++
		}
	}
	r[j] = int32(acc)
	return r
}

// feFromS30 converts x in [0, 2^256), limbs normalised, back to 8 x 32 bits.
func feFromS30(x *s30) fe {
	var r fe
	var acc uint64
	n, j := uint(0), 0
	for i := 0; i < 9; i++ {
		acc |= uint64(uint32(x[i])&m30) << n
		n += 30
		for n >= 32 && j < 8 {
			r[j] = uint32(acc)
			acc >>= 32
			n -= 32
			j++
		}
	}
	if j < 8 {
		r[j] = uint32(acc)
	}
	return r
}

// divsteps30 runs 30 divsteps on the low bits of f (odd) and g, with the half-delta
// variant's delta (here as delta - 1/2, starting at 0). It returns the new delta and
// the transition matrix (u, v, q, r): 2^30*f' = u*f + v*g and 2^30*g' = q*f + r*g.
// |u|+|v| and |q|+|r| are at most 2^30.
func divsteps30(delta int32, f, g uint32) (int32, int32, int32, int32, int32) {
	u, v, q, r := int32(1), int32(0), int32(0), int32(1)
	i := 30
	for {
		// Even g: halve it, as many times as it has trailing zeros (at most i).
		z := bits.TrailingZeros32(g | 1<<uint(i))
		g >>= uint(z)
		u <<= uint(z)
		v <<= uint(z)
		delta += int32(z)
		i -= z
		if i == 0 {
			return delta, u, v, q, r
		}
		// g is odd.
		if delta >= 0 {
			delta = -delta
			f, g = g, (g-f)>>1
			u, v, q, r = q<<1, r<<1, q-u, r-v
		} else {
			delta++
			g = (g + f) >> 1
			u, v, q, r = u<<1, v<<1, q+u, r+v
		}
		i--
		if i == 0 {
			return delta, u, v, q, r
		}
	}
}

// updateFG sets f, g = (u*f + v*g)/2^30, (q*f + r*g)/2^30 (exact divisions).
func updateFG(f, g *s30, u, v, q, r int32) {
	u64, v64, q64, r64 := int64(u), int64(v), int64(q), int64(r)
	cf := u64*int64(f[0]) + v64*int64(g[0])
	cg := q64*int64(f[0]) + r64*int64(g[0])
	cf >>= 30
	cg >>= 30
	for i := 1; i < 9; i++ {
		fi, gi := int64(f[i]), int64(g[i])
		cf += u64*fi + v64*gi
		cg += q64*fi + r64*gi
		f[i-1] = int32(cf & m30)
		g[i-1] = int32(cg & m30)
		cf >>= 30
		cg >>= 30
	}
	f[8] = int32(cf)
	g[8] = int32(cg)
}

// updateDE sets d, e = (u*d + v*e)/2^30, (q*d + r*e)/2^30 mod n, for d, e in [0, n):
// a multiple of n below 2^30*n makes each sum divisible by 2^30, and the quotient,
// in (-n, 2n), is brought back into [0, n).
func updateDE(d, e *s30, u, v, q, r int32) {
	u64, v64, q64, r64 := int64(u), int64(v), int64(q), int64(r)
	cd := u64*int64(d[0]) + v64*int64(e[0])
	ce := q64*int64(d[0]) + r64*int64(e[0])
	md := int64((-uint32(cd) * p256N30Inv) & m30)
	me := int64((-uint32(ce) * p256N30Inv) & m30)
	n0 := int64(p256N30[0])
	cd += md * n0
	ce += me * n0
	cd >>= 30
	ce >>= 30
	for i := 1; i < 9; i++ {
		di, ei, ni := int64(d[i]), int64(e[i]), int64(p256N30[i])
		cd += u64*di + v64*ei + md*ni
		ce += q64*di + r64*ei + me*ni
		d[i-1] = int32(cd & m30)
		e[i-1] = int32(ce & m30)
		cd >>= 30
		ce >>= 30
	}
	d[8] = int32(cd)
	e[8] = int32(ce)
	s30Reduce(d)
	s30Reduce(e)
}

// s30Reduce brings x in (-n, 2n), limbs normalised, into [0, n).
func s30Reduce(x *s30) {
	if x[8] < 0 {
		s30AddN(x, 1)
		return
	}
	// x - n, kept when it is not negative.
	var t s30
	var c int64
	for i := 0; i < 9; i++ {
		c += int64(x[i]) - int64(p256N30[i])
		if i < 8 {
			t[i] = int32(c & m30)
			c >>= 30
		} else {
			t[i] = int32(c)
		}
	}
	if t[8] >= 0 {
		*x = t
	}
}

// s30AddN sets x = x + sign*n (sign is 1 or -1), limbs normalised.
func s30AddN(x *s30, sign int64) {
	var c int64
	for i := 0; i < 8; i++ {
		c += int64(x[i]) + sign*int64(p256N30[i])
		x[i] = int32(c & m30)
		c >>= 30
	}
	x[8] = int32(c + int64(x[8]) + sign*int64(p256N30[8]))
}

// p256InvN returns x^-1 mod n for x in [1, n); ok is false only if the loop did
// not finish within the proven bound (it always does for such x, n prime).
func p256InvN(x *fe) (inv fe, ok bool) {
	f, g := p256N30, s30FromFe(x)
	var d, e s30
	e[0] = 1
	var delta int32
	for b := 0; b < invBatches; b++ {
		var u, v, q, r int32
		delta, u, v, q, r = divsteps30(delta, uint32(f[0]), uint32(g[0]))
		updateDE(&d, &e, u, v, q, r)
		updateFG(&f, &g, u, v, q, r)
		if g[0]|g[1]|g[2]|g[3]|g[4]|g[5]|g[6]|g[7]|g[8] == 0 {
			// f = ±gcd(n, x) = ±1 and f = d*x mod n.
			if f[8] < 0 {
				// d in [0, n): -d mod n is n - d (d != 0 since x is invertible).
				for i := range d {
					d[i] = -d[i]
				}
				s30AddN(&d, 1)
				// s30AddN normalises limbs 0..7 from the negated limbs' carries.
			}
			return feFromS30(&d), true
		}
	}
	return fe{}, false
}
