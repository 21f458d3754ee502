package jwt

import (
	"testing"
	"time"
)

// BenchmarkVerifyRest is Verify/RS256 without the RSA operation: split, base64url,
// header, key choice, SHA-256 of the signing input, claims and policy. It is the part
// shared by every algorithm.
func BenchmarkVerifyRest(b *testing.B) {
	g, set, _ := loadGolden(b)
	v := verifier(b, func(o *Options) { o.MaxLifetime = 2 * time.Hour })
	now := time.Unix(g.Now, 0)
	tok := g.Cases[0].Token
	b.ReportAllocs()
	for b.Loop() {
		p, err := parseCompact(tok, v.maxHeader)
		if err != nil {
			b.Fatal(err)
		}
		a := lookupAlg(p.header.Alg)
		if a == nil || !v.allowed[algIndex(a)] || checkHeaderType(p.header.Typ) != nil {
			b.Fatal("alg")
		}
		k := set.keys[0]
		for _, c := range set.keys {
			if c.kid == p.header.Kid {
				k = c
				break
			}
		}
		if !k.fits(a) || checkSigShape(a, p.sig) != nil {
			b.Fatal("key")
		}
		var digest [64]byte
		hashInput(a.hash, p.input, digest[:0])
		c, err := parseClaims(p.body)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.checkClaims(c, now); err != nil {
			b.Fatal(err)
		}
		_ = &Token{Header: p.header, Claims: c}
	}
}
