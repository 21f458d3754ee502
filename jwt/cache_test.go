package jwt

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := NewCache(2)
	tok := &Token{Header: Header{Alg: "RS256"}}
	c.Put("a", tok, testNow.Add(time.Minute))
	if got, ok := c.Get("a", testNow); !ok || got != tok {
		t.Fatal("miss after Put")
	}
	if _, ok := c.Get("b", testNow); ok {
		t.Fatal("hit for unknown token")
	}
	if _, ok := c.Get("a", testNow.Add(time.Minute)); ok {
		t.Fatal("hit at expiry")
	}
	if c.Len() != 0 {
		t.Fatalf("expired entry kept: Len = %d", c.Len())
	}
	c.Put("a", tok, testNow.Add(time.Minute))
	c.Put("b", tok, testNow.Add(time.Minute))
	c.Get("a", testNow) // a is now most recent
	c.Put("c", tok, testNow.Add(time.Minute))
	if _, ok := c.Get("b", testNow); ok {
		t.Fatal("LRU did not evict b")
	}
	if _, ok := c.Get("a", testNow); !ok {
		t.Fatal("LRU evicted a")
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d", c.Len())
	}
	c.Purge()
	if _, ok := c.Get("a", testNow); ok || c.Len() != 0 {
		t.Fatal("Purge kept entries")
	}
}

// TestCacheCollision forces two tokens onto one hash: a hit must compare the token.
func TestCacheCollision(t *testing.T) {
	c := NewCache(10)
	tok := &Token{}
	c.Put("token-A", tok, testNow.Add(time.Minute))
	e := c.entries[c.hashOf("token-A")]
	delete(c.entries, e.hash)
	e.hash = c.hashOf("token-B")
	c.entries[e.hash] = e // now token-B's hash points at token-A's entry
	if _, ok := c.Get("token-B", testNow); ok {
		t.Fatal("cache hit on hash collision without full token comparison")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := strconv.Itoa((g*7 + i) % 100)
				if _, ok := c.Get(k, testNow); !ok {
					c.Put(k, &Token{}, testNow.Add(time.Minute))
				}
				if i%500 == 0 {
					c.Purge()
				}
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len = %d > 64", c.Len())
	}
}

func TestEqualTokens(t *testing.T) {
	base := strings.Repeat("abcdefghij", 20)
	for n := 0; n <= len(base); n++ {
		a := base[:n]
		if !equalTokens(a, strings.Clone(a)) {
			t.Fatalf("len %d: equal strings differ", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] ^= 0x20
			if equalTokens(a, string(b)) {
				t.Fatalf("len %d: difference at %d missed", n, i)
			}
		}
		if n > 0 && equalTokens(a, a[:n-1]) {
			t.Fatal("different lengths equal")
		}
	}
}

// TestCacheSameTailDifferentToken: tokens sharing a tail and length land on the same
// key; the full comparison keeps them apart.
func TestCacheSameTailDifferentToken(t *testing.T) {
	c := NewCache(10)
	a := "header.payloadA." + strings.Repeat("s", 40)
	b := "header.payloadB." + strings.Repeat("s", 40)
	ta := &Token{Header: Header{Kid: "a"}}
	c.Put(a, ta, testNow.Add(time.Minute))
	if _, ok := c.Get(b, testNow); ok {
		t.Fatal("hit for a different token with the same tail")
	}
	if got, ok := c.Get(a, testNow); !ok || got != ta {
		t.Fatal("miss for the cached token")
	}
}
