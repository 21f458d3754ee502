package jwt

import (
	"crypto/elliptic"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// TestP256FieldOps compares the P-256-specialised field operations (p256MulMont,
// fadd, fsub, p256CondSubP) with math/big and with the generic mont8, on random
// values and on the edge values where carries and borrows run through every limb.
func TestP256FieldOps(t *testing.T) {
	p := elliptic.P256().Params().P
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	one := big.NewInt(1)
	edges := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2),
		new(big.Int).Sub(p, one), new(big.Int).Sub(p, big.NewInt(2)),
		new(big.Int).Rsh(p, 1), new(big.Int).Add(new(big.Int).Rsh(p, 1), one),
		new(big.Int).Lsh(one, 255), new(big.Int).Sub(new(big.Int).Lsh(one, 224), one),
		new(big.Int).Lsh(one, 96), new(big.Int).Lsh(one, 192), new(big.Int).Sub(new(big.Int).Lsh(one, 32), one),
	}
	rng := mrand.New(mrand.NewPCG(11, 12))
	var vals []*big.Int
	vals = append(vals, edges...)
	for i := 0; i < 300; i++ {
		vals = append(vals, new(big.Int).Rand(newBigRand(rng), p))
	}
	// Values with long runs of 0 and 0xffffffff limbs, the carry-chain stress cases.
	for i := 0; i < 200; i++ {
		var z fe
		for j := range z {
			switch rng.IntN(4) {
			case 0:
				z[j] = 0
			case 1:
				z[j] = 0xffffffff
			case 2:
				z[j] = 1
			default:
				z[j] = rng.Uint32()
			}
		}
		v := feToBig(&z)
		if v.Cmp(p) < 0 {
			vals = append(vals, v)
		}
	}
	check := func(op string, xb, yb *big.Int, got *fe, want *big.Int) {
		t.Helper()
		if feToBig(got).Cmp(want) != 0 {
			t.Fatalf("%s(%x, %x) = %x, want %x", op, xb, yb, feToBig(got), want)
		}
	}
	for i, xb := range vals {
		for j, yb := range vals {
			if i >= len(edges) && j >= len(edges) && (i+j)%7 != 0 {
				continue // all edge pairs, a sample of the rest
			}
			x, y := feFromBig(xb), feFromBig(yb)
			m := fmul(&x, &y)
			check("fmul", xb, yb, &m, new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Mul(xb, yb), rInv), p))
			var g fe
			mont8(&g, &x, &y, &p256P, p256P0)
			if g != m {
				t.Fatalf("p256MulMont and mont8 disagree on %x * %x", xb, yb)
			}
			a := fadd(&x, &y)
			check("fadd", xb, yb, &a, new(big.Int).Mod(new(big.Int).Add(xb, yb), p))
			s := fsub(&x, &y)
			check("fsub", xb, yb, &s, new(big.Int).Mod(new(big.Int).Sub(xb, yb), p))
			// Aliased output, as the point formulas use it.
			z := x
			p256MulMont(&z, &z, &z)
			zz := fmul(&x, &x)
			if z != zz {
				t.Fatal("p256MulMont with aliased operands differs")
			}
		}
	}
	// p256CondSubP on every value below 2p, with and without the 2^256 bit.
	for _, vb := range vals {
		for _, add := range []*big.Int{big.NewInt(0), p} {
			w := new(big.Int).Add(vb, add)
			var z fe
			var hi uint64
			if w.BitLen() > 256 {
				hi = 1
			}
			low := new(big.Int).Set(w)
			low.SetBit(low, 256, 0)
			feFromBytes(&z, low.FillBytes(make([]byte, 32)))
			p256CondSubP(&z, hi)
			check("p256CondSubP", w, add, &z, vb)
		}
	}
}

// FuzzP256Field: fuzzed field elements never make the specialised field operations
// disagree with math/big.
func FuzzP256Field(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32))
	p := elliptic.P256().Params().P
	pm1 := new(big.Int).Sub(p, big.NewInt(1)).FillBytes(make([]byte, 32))
	f.Add(pm1, pm1)
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	f.Fuzz(func(t *testing.T, xs, ys []byte) {
		if len(xs) != 32 || len(ys) != 32 {
			return
		}
		xb := new(big.Int).Mod(new(big.Int).SetBytes(xs), p)
		yb := new(big.Int).Mod(new(big.Int).SetBytes(ys), p)
		x, y := feFromBig(xb), feFromBig(yb)
		m, a, s := fmul(&x, &y), fadd(&x, &y), fsub(&x, &y)
		if feToBig(&m).Cmp(new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Mul(xb, yb), rInv), p)) != 0 ||
			feToBig(&a).Cmp(new(big.Int).Mod(new(big.Int).Add(xb, yb), p)) != 0 ||
			feToBig(&s).Cmp(new(big.Int).Mod(new(big.Int).Sub(xb, yb), p)) != 0 {
			t.Fatalf("field ops disagree with math/big on %x, %x", xb, yb)
		}
	})
}

// BenchmarkP256Field times the pieces of one ES256 check on the fast path.
func BenchmarkP256Field(b *testing.B) {
	x, y := p256One, p256B
	b.Run("mul", func(b *testing.B) {
		for b.Loop() {
			p256MulMont(&x, &x, &y)
		}
	})
	b.Run("add", func(b *testing.B) {
		for b.Loop() {
			x = fadd(&x, &y)
		}
	})
	b.Run("sub", func(b *testing.B) {
		for b.Loop() {
			x = fsub(&x, &y)
		}
	})
	b.Run("addAffine", func(b *testing.B) {
		g := p256G()
		acc := jacPoint{g[0][1].x, g[0][1].y, p256One}
		for b.Loop() {
			acc.addAffine(&g[5][7])
		}
	})
	b.Run("scalarMults", func(b *testing.B) {
		g := p256G()
		var k1, k2 fe
		for i := range k1 {
			k1[i], k2[i] = 0x9e3779b9*uint32(i+1), 0x7f4a7c15*uint32(i+3)
		}
		for b.Loop() {
			var acc jacPoint
			g.addScalarMult(&acc, &k1)
			g.addScalarMult(&acc, &k2)
		}
	})
}

// TestP256SignedWindows checks the signed window recoding on scalars whose windows
// are all just below, at or above the signed-digit bound, or all ones (carry chains
// through every window) for 5-, 6-, 7- and 8-bit windows, small
// scalars, and values around n and 2^256, for G's table and a key's table,
// against crypto/elliptic.
func TestP256SignedWindows(t *testing.T) {
	c := elliptic.P256()
	n := c.Params().N
	one := big.NewInt(1)
	var ks []*big.Int
	for _, pat := range [][2]int64{{5, 1}, {5, 15}, {5, 16}, {5, 17}, {5, 30}, {5, 31},
		{7, 63}, {7, 64}, {7, 65}, {7, 127}, {7, 126}, {8, 128}, {8, 255}, {6, 31}, {6, 32}, {6, 33},
		{6, 62}, {6, 63}} {
		bits, w := pat[0], pat[1]
		k := new(big.Int)
		for i := int64(0); i < 260/bits+1; i++ {
			k.Lsh(k, uint(bits)).Or(k, big.NewInt(w))
		}
		mod := new(big.Int).Lsh(one, 256)
		k.Mod(k, mod) // keep it below 2^256
		ks = append(ks, k, new(big.Int).Mod(new(big.Int).Add(k, big.NewInt(w)), mod))
	}
	for i := int64(1); i <= 70; i++ {
		ks = append(ks, big.NewInt(i))
	}
	ks = append(ks,
		new(big.Int).Sub(n, one), new(big.Int).Add(n, one), new(big.Int).Sub(n, big.NewInt(17)),
		new(big.Int).Sub(new(big.Int).Lsh(one, 256), one), new(big.Int).Lsh(one, 255),
		new(big.Int).Sub(new(big.Int).Lsh(one, 255), one))
	priv := keys(t).p256
	q := newP256Verifier(&priv.PublicKey).q
	type scalarMulter interface{ addScalarMult(*jacPoint, *fe) }
	var qx, qy fe
	pt, _ := priv.PublicKey.Bytes()
	feFromBytes(&qx, pt[1:33])
	feFromBytes(&qy, pt[33:])
	mont8(&qx, &qx, &p256RRp, &p256P, p256P0)
	mont8(&qy, &qy, &p256RRp, &p256P, p256P0)
	tables := []struct {
		name string
		tab  scalarMulter
		x, y *big.Int
	}{
		{"G", p256G(), c.Params().Gx, c.Params().Gy},
		{"G comb7", p256GComb(), c.Params().Gx, c.Params().Gy},
		{"Q", q, priv.X, priv.Y},
	}
	for _, bits := range []int{2, 3, 4, 6, 8} {
		tables = append(tables, struct {
			name string
			tab  scalarMulter
			x, y *big.Int
		}{"Q comb" + string(rune('0'+bits)), newP256Comb(&qx, &qy, bits), priv.X, priv.Y})
	}
	for _, k := range ks {
		k = new(big.Int).Set(k)
		if k.BitLen() > 256 {
			t.Fatalf("bad test scalar %x", k)
		}
		var kf fe
		feFromBytes(&kf, k.FillBytes(make([]byte, 32)))
		for _, tc := range tables {
			var acc jacPoint
			tc.tab.addScalarMult(&acc, &kf)
			wx, wy := c.ScalarMult(tc.x, tc.y, k.Bytes()) //nolint:staticcheck // reference only
			if new(big.Int).Mod(k, n).Sign() == 0 {
				if !acc.isInf() {
					t.Fatalf("%s: %x*P should be infinity", tc.name, k)
				}
				continue
			}
			x, y := jacToAffineBig(&acc)
			if x.Cmp(wx) != 0 || y.Cmp(wy) != 0 {
				t.Fatalf("%s: scalar mult by %x differs from crypto/elliptic", tc.name, k)
			}
		}
	}
}
