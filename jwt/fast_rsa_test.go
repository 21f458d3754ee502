package jwt

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rsaModuli returns test public keys: generated 2048-bit keys, the RFC 7515 key and
// variants with other exponents (only the modexp is compared for those).
func rsaModuli(t testing.TB) []*rsa.PublicKey {
	k := keys(t)
	rfc := mustJWKS(t, rfc7515RSAJWKS).keys[0].rsa
	out := []*rsa.PublicKey{&k.rsa.PublicKey, &k.rsa2.PublicKey, rfc}
	for _, e := range []int{3, 17, 1<<31 - 1} {
		out = append(out, &rsa.PublicKey{N: k.rsa.N, E: e})
	}
	// A modulus with a non-multiple-of-32 bit length and top limb mostly empty.
	n := new(big.Int).Rsh(k.rsa2.N, 13)
	n.SetBit(n, 0, 1)
	out = append(out, &rsa.PublicKey{N: n, E: 65537})
	return out
}

// TestMontRSAExpDifferential compares the 32-bit Montgomery modexp with math/big.
func TestMontRSAExpDifferential(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, pub := range rsaModuli(t) {
		m := newMontRSA(pub)
		if m == nil {
			t.Fatal("newMontRSA nil")
		}
		e := big.NewInt(int64(pub.E))
		for i := 0; i < 40; i++ {
			sig := make([]byte, m.size)
			for j := range sig {
				sig[j] = byte(rng.Uint32())
			}
			switch i {
			case 0:
				clear(sig)
			case 1:
				clear(sig)
				sig[len(sig)-1] = 1
			case 2: // n-1
				pub.N.FillBytes(sig)
				sig[len(sig)-1]--
			case 3: // n itself: invalid
				pub.N.FillBytes(sig)
			}
			s := new(big.Int).SetBytes(sig)
			em := make([]byte, m.size)
			ok := m.exp(em, sig)
			if s.Cmp(pub.N) >= 0 {
				if ok {
					t.Fatalf("exp accepted sig >= n")
				}
				continue
			}
			want := new(big.Int).Exp(s, e, pub.N).FillBytes(make([]byte, m.size))
			if !ok || !bytes.Equal(em, want) {
				t.Fatalf("bits %d e %d case %d: mismatch", pub.N.BitLen(), pub.E, i)
			}
		}
	}
}

// TestMontRSAVerifyDifferential compares signature acceptance with crypto/rsa.
func TestMontRSAVerifyDifferential(t *testing.T) {
	k := keys(t)
	m := newMontRSA(&k.rsa.PublicKey)
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		msg := []byte("payload")
		hh := h.New()
		hh.Write(msg)
		d := hh.Sum(nil)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, h, d)
		if err != nil {
			t.Fatal(err)
		}
		check := func(name string, h crypto.Hash, d, sig []byte) {
			t.Helper()
			want := rsa.VerifyPKCS1v15(&k.rsa.PublicKey, h, d, sig) == nil
			if got := m.verifyPKCS1v15(h, d, sig); got != want {
				t.Errorf("%v %s: fast=%v stdlib=%v", h, name, got, want)
			}
		}
		check("valid", h, d, sig)
		for i := 0; i < len(sig); i += 17 {
			bad := bytes.Clone(sig)
			bad[i] ^= 0x01
			check("flipped sig", h, d, bad)
		}
		bd := bytes.Clone(d)
		bd[0] ^= 1
		check("other digest", h, bd, sig)
		other := crypto.SHA256
		if h == crypto.SHA256 {
			other = crypto.SHA512
		}
		od := other.New()
		od.Write(msg)
		check("other hash", other, od.Sum(nil), sig)
		check("short sig", h, d, sig[1:])
		// sig = n (out of range) and sig = 0.
		check("sig = n", h, d, k.rsa.N.FillBytes(make([]byte, len(sig))))
		check("sig = 0", h, d, make([]byte, len(sig)))
	}
}

// FuzzMontRSA compares the fast modexp with math/big on arbitrary inputs.
func FuzzMontRSA(f *testing.F) {
	f.Add([]byte{1}, uint8(0))
	f.Add(bytes.Repeat([]byte{0xff}, 256), uint8(1))
	f.Add(bytes.Repeat([]byte{0x80}, 256), uint8(6))
	mods := rsaModuli(f)
	ms := make([]*montRSA, len(mods))
	for i, p := range mods {
		ms[i] = newMontRSA(p)
	}
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		i := int(which) % len(mods)
		pub, m := mods[i], ms[i]
		if len(raw) > m.size {
			raw = raw[:m.size]
		}
		sig := make([]byte, m.size)
		copy(sig[m.size-len(raw):], raw)
		s := new(big.Int).SetBytes(sig)
		em := make([]byte, m.size)
		ok := m.exp(em, sig)
		if s.Cmp(pub.N) >= 0 {
			if ok {
				t.Fatal("accepted sig >= n")
			}
			return
		}
		want := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, m.size))
		if !ok || !bytes.Equal(em, want) {
			t.Fatalf("mismatch for %x", sig)
		}
	})
}

// TestVerifyWithFastRSA runs the golden tokens through Verify with the fast RSA path
// switched on (it is only on by default under wasm).
func TestVerifyWithFastPaths(t *testing.T) {
	oldRSA, oldEC := useFastRSA, useFastEC
	useFastRSA, useFastEC = true, true
	defer func() { useFastRSA, useFastEC = oldRSA, oldEC }()
	g, _, hset := loadGolden(t)
	jwks, err := os.ReadFile(filepath.Join("testdata", "golden", "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range set.keys {
		if k.rsa != nil && fastRSA(k) == nil {
			t.Fatal("fast RSA not prepared")
		}
		if k.ec != nil && k.curve.name == "ES256" && fastEC(k) == nil {
			t.Fatal("fast P-256 not prepared")
		}
	}
	v := verifier(t, func(o *Options) { o.MaxLifetime = 2 * time.Hour })
	for _, c := range g.Cases {
		keys := set
		if strings.Contains(c.Name, "HS") {
			keys = hset
		}
		_, err := v.Verify(c.Token, keys, time.Unix(g.Now, 0))
		if got := Reason(err); got != c.Reason {
			t.Errorf("%s: Reason = %q (%v), want %q", c.Name, got, err, c.Reason)
		}
	}
	rfc := mustJWKS(t, rfc7515RSAJWKS)
	v2, _ := NewVerifier(Options{Algorithms: []string{"RS256"}})
	if _, err := v2.Verify(rfc7515RS256, rfc, rfcNow); err != nil {
		t.Errorf("RFC 7515 A.2 with fast RSA: %v", err)
	}
	v3, _ := NewVerifier(Options{Algorithms: []string{"ES256"}, Issuers: []string{"joe"}})
	if _, err := v3.Verify(rfc7515ES256, mustJWKS(t, rfc7515ECJWKS), rfcNow); err != nil {
		t.Errorf("RFC 7515 A.3 with fast P-256: %v", err)
	}
}

// TestMontRSAPSSDifferential compares PSS acceptance with crypto/rsa.
func TestMontRSAPSSDifferential(t *testing.T) {
	k := keys(t)
	privs := []*rsa.PrivateKey{k.rsa, k.rsa2}
	if runtime.GOARCH != "wasm" { // key generation is slow under wasm
		// A modulus whose bit length is 1 mod 8: EM is one byte shorter than k.
		odd, err := rsa.GenerateKey(rand.Reader, 2049)
		if err != nil {
			t.Fatal(err)
		}
		privs = append(privs, odd)
	}
	for _, priv := range privs {
		m := newMontRSA(&priv.PublicKey)
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			hh := h.New()
			hh.Write([]byte("pss payload"))
			d := hh.Sum(nil)
			eq := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
			check := func(name string, h crypto.Hash, d, sig []byte) {
				t.Helper()
				want := rsa.VerifyPSS(&priv.PublicKey, h, d, sig, eq) == nil
				if got := m.verifyPSS(h, d, sig); got != want {
					t.Errorf("%v %s: fast=%v stdlib=%v", h, name, got, want)
				}
			}
			sig, err := rsa.SignPSS(rand.Reader, priv, h, d, eq)
			if err != nil {
				t.Fatal(err)
			}
			check("valid", h, d, sig)
			for i := 0; i < len(sig); i += 23 {
				bad := bytes.Clone(sig)
				bad[i] ^= 0x80
				check("flipped", h, d, bad)
			}
			bd := bytes.Clone(d)
			bd[3] ^= 1
			check("other digest", h, bd, sig)
			for _, salt := range []int{0, 1, h.Size() - 1, h.Size() + 1, rsa.PSSSaltLengthAuto} {
				s2, err := rsa.SignPSS(rand.Reader, priv, h, d, &rsa.PSSOptions{SaltLength: salt})
				if err != nil {
					t.Fatal(err)
				}
				check("salt length "+strconv.Itoa(salt), h, d, s2)
			}
			pk, _ := rsa.SignPKCS1v15(rand.Reader, priv, h, d)
			check("PKCS#1 v1.5 signature", h, d, pk)
		}
	}
}

// TestVerifyConcurrent hammers one Verifier, KeySet and Cache from many goroutines
// with the fast paths on (pooled scratch, shared tables); run it with -race.
func TestVerifyConcurrent(t *testing.T) {
	oldRSA, oldEC := useFastRSA, useFastEC
	useFastRSA, useFastEC = true, true
	defer func() { useFastRSA, useFastEC = oldRSA, oldEC }()
	g, _, hset := loadGolden(t)
	jwks, _ := os.ReadFile(filepath.Join("testdata", "golden", "jwks.json"))
	set, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, func(o *Options) { o.MaxLifetime = 2 * time.Hour })
	cache := NewCache(8)
	now := time.Unix(g.Now, 0)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				c := g.Cases[(w*7+i)%len(g.Cases)]
				keys := set
				if strings.Contains(c.Name, "HS") {
					keys = hset
				}
				if tok, ok := cache.Get(c.Token, now); ok {
					if c.Reason != "" || tok == nil {
						errs <- c.Name + ": bad cache hit"
					}
					continue
				}
				tok, err := v.Verify(c.Token, keys, now)
				if Reason(err) != c.Reason {
					errs <- c.Name + ": " + Reason(err)
					continue
				}
				if err == nil {
					cache.Put(c.Token, tok, tok.Claims.ExpiresAt)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
