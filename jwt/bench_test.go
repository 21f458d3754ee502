package jwt

import (
	"crypto/sha256"
	"hash/maphash"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify measures parse+verify (signature and claims) of a Keycloak-sized
// access token per algorithm. Run natively and under wasm (see docs/BENCHMARKS.md).
func BenchmarkVerify(b *testing.B) {
	g, set, hset := loadGolden(b)
	v := verifier(b, func(o *Options) { o.MaxLifetime = 2 * time.Hour })
	now := time.Unix(g.Now, 0)
	for _, c := range g.Cases {
		name, ok := strings.CutPrefix(c.Name, "valid ")
		if !ok {
			continue
		}
		keys := set
		if strings.HasPrefix(name, "HS") {
			keys = hset
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			if _, err := v.Verify(c.Token, keys, now); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := v.Verify(c.Token, keys, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseOnly measures the structural work without signature math: split,
// base64, strict JSON scan and claim extraction.
func BenchmarkParseOnly(b *testing.B) {
	g, _, _ := loadGolden(b)
	tok := g.Cases[0].Token
	b.ReportAllocs()
	for b.Loop() {
		p, err := parseCompact(tok, DefaultMaxHeaderBytes)
		if err != nil {
			b.Fatal(err)
		}
		pl, _ := decodeB64(p.payload)
		if _, err := parseClaims(pl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit measures the verified-token cache hit path, hash included.
func BenchmarkCacheHit(b *testing.B) {
	g, _, _ := loadGolden(b)
	tok := g.Cases[0].Token
	for len(tok) < 1500 {
		tok += "x"
	}
	tok = tok[:1500]
	b.Run("Cache", func(b *testing.B) {
		c := NewCache(1000)
		c.Put(tok, &Token{}, testNow.Add(time.Hour))
		probe := strings.Clone(tok) // a distinct string, as a fresh request would have
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Get(probe, testNow); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("GoMapString", func(b *testing.B) {
		m := map[string]*Token{tok: {}}
		probe := strings.Clone(tok)
		b.ReportAllocs()
		for b.Loop() {
			if m[probe] == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("Maphash", func(b *testing.B) {
		seed := maphash.MakeSeed()
		b.ReportAllocs()
		for b.Loop() {
			_ = maphash.String(seed, tok)
		}
	})
	b.Run("SHA256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sha256.Sum256([]byte(tok))
		}
	})
}
