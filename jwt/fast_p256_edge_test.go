package jwt

import (
	"crypto/elliptic"
	"crypto/rand"
	"math/big"
	"testing"
)

// TestP256TwoScalarEdges runs u1*G + u2*Q exactly as verify does (G's comb, then
// the key's table into the same accumulator, with its lazily negated sign) for keys
// Q = d*G with small d and n-d, on scalar pairs that make the accumulator meet a
// table point (the doubling branch of the mixed addition), its negation (infinity
// in mid-sum) or cancel out in the end, and on random pairs, against crypto/elliptic.
func TestP256TwoScalarEdges(t *testing.T) {
	c := elliptic.P256()
	n := c.Params().N
	one := big.NewInt(1)
	mod := func(x *big.Int) *big.Int { return x.Mod(x, n) }
	// Scalars with a single non-zero window of the key's table (digit j at window i),
	// so the sum before that window's addition is exactly u1*G.
	win := func(i, j int) *big.Int {
		return new(big.Int).Lsh(big.NewInt(int64(j)), uint(p256WindowBits*i))
	}
	gx, gy := p256GMont()
	neg := jacPoint{gx, gy, p256One}
	neg.fixSign(true)
	if nx, ny := jacToAffineBig(&neg); nx.Cmp(c.Params().Gx) != 0 || new(big.Int).Add(ny, c.Params().Gy).Cmp(c.Params().P) != 0 {
		t.Fatal("fixSign(true) does not negate G")
	}
	for _, d := range []*big.Int{big.NewInt(1), big.NewInt(2), big.NewInt(3), big.NewInt(64),
		new(big.Int).Sub(n, one), new(big.Int).Sub(n, big.NewInt(2))} {
		qx, qy := c.ScalarBaseMult(d.Bytes())
		var x, y fe
		feFromBytes(&x, qx.FillBytes(make([]byte, 32)))
		feFromBytes(&y, qy.FillBytes(make([]byte, 32)))
		mont8(&x, &x, &p256RRp, &p256P, p256P0)
		mont8(&y, &y, &p256RRp, &p256P, p256P0)
		tab := newP256Table(&x, &y)
		type pair struct{ u1, u2 *big.Int }
		var pairs []pair
		for _, w := range [][2]int{{0, 1}, {0, 5}, {0, 31}, {0, 32}, {0, 33}, {0, 63}, {1, 1}, {1, 40}, {7, 17}, {20, 2}, {41, 60}, {42, 15}} {
			u2 := mod(win(w[0], w[1]))
			u2d := mod(new(big.Int).Mul(u2, d)) // u2*Q as a multiple of G
			pairs = append(pairs,
				pair{u2d, u2},                             // u1*G == u2*Q: doubling
				pair{mod(new(big.Int).Neg(u2d)), u2},      // u1*G == -u2*Q: infinity
				pair{mod(new(big.Int).Add(u2d, one)), u2}, // near miss
			)
		}
		for i := 0; i < 20; i++ {
			u1, _ := rand.Int(rand.Reader, n)
			u2, _ := rand.Int(rand.Reader, n)
			pairs = append(pairs, pair{u1, u2}, pair{mod(new(big.Int).Neg(new(big.Int).Mul(u2, d))), u2})
		}
		pairs = append(pairs, pair{big.NewInt(0), big.NewInt(1)}, pair{big.NewInt(1), big.NewInt(0)},
			pair{new(big.Int).Sub(n, one), new(big.Int).Sub(n, one)})
		for _, p := range pairs {
			var k1, k2 fe
			feFromBytes(&k1, p.u1.FillBytes(make([]byte, 32)))
			feFromBytes(&k2, p.u2.FillBytes(make([]byte, 32)))
			var acc jacPoint
			p256GComb().addScalarMult(&acc, &k1)
			tab.addScalarMult(&acc, &k2)
			want := mod(new(big.Int).Add(p.u1, new(big.Int).Mul(p.u2, d)))
			if want.Sign() == 0 {
				if !acc.isInf() {
					t.Fatalf("d=%x u1=%x u2=%x: want infinity", d, p.u1, p.u2)
				}
				continue
			}
			wx, wy := c.ScalarBaseMult(want.Bytes())
			gx, gy := jacToAffineBig(&acc)
			if acc.isInf() || gx.Cmp(wx) != 0 || gy.Cmp(wy) != 0 {
				t.Fatalf("d=%x u1=%x u2=%x: differs from crypto/elliptic", d, p.u1, p.u2)
			}
		}
	}
}
