package jwt

import (
	"crypto/elliptic"
	"crypto/rand"
	"math/big"
	"testing"
)

var p256NBig = elliptic.P256().Params().N

// feFromBigBytes reads 32 big-endian bytes into a field element.
func feFromBigBytes(b []byte) fe {
	var z fe
	feFromBytes(&z, b)
	return z
}

// invNCheck compares p256InvN with math/big's ModInverse for x in [1, n).
func invNCheck(t testing.TB, xb *big.Int) {
	t.Helper()
	var buf [32]byte
	x := feFromBigBytes(xb.FillBytes(buf[:]))
	got, ok := p256InvN(&x)
	if !ok {
		t.Fatalf("p256InvN(%x) did not finish", xb)
	}
	want := feFromBigBytes(new(big.Int).ModInverse(xb, p256NBig).FillBytes(buf[:]))
	if got != want {
		t.Fatalf("p256InvN(%x) = %x, want %x", xb, got, want)
	}
}

// TestP256InvN checks the divsteps inverse mod n against math/big on edge values
// (small, near n, powers of two, all-ones patterns) and random ones.
func TestP256InvN(t *testing.T) {
	n := p256NBig
	one := big.NewInt(1)
	var edge []*big.Int
	for i := int64(1); i <= 40; i++ {
		edge = append(edge, big.NewInt(i), new(big.Int).Sub(n, big.NewInt(i)))
	}
	for k := 0; k < 256; k++ {
		p := new(big.Int).Lsh(one, uint(k))
		edge = append(edge, p, new(big.Int).Sub(p, one), new(big.Int).Add(p, one))
	}
	edge = append(edge, new(big.Int).Rsh(n, 1), new(big.Int).Add(new(big.Int).Rsh(n, 1), one))
	for _, x := range edge {
		x.Mod(x, n)
		if x.Sign() == 0 {
			continue
		}
		invNCheck(t, x)
	}
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	for i := 0; i < rounds; i++ {
		x, err := rand.Int(rand.Reader, new(big.Int).Sub(n, one))
		if err != nil {
			t.Fatal(err)
		}
		invNCheck(t, x.Add(x, one))
	}
}

// FuzzP256InvN compares p256InvN with math/big for any 32 bytes reduced into [1, n).
func FuzzP256InvN(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x50})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 32 {
			b = b[:32]
		}
		x := new(big.Int).SetBytes(b)
		x.Mod(x, p256NBig)
		if x.Sign() == 0 {
			x.SetInt64(1)
		}
		invNCheck(t, x)
	})
}
