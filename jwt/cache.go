package jwt

import (
	"hash/maphash"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Cache is a bounded LRU of verified tokens, safe for concurrent use. Entries are
// keyed by a seeded hash of the token's length and its last bytes (the signature:
// unique per token and unforgeable), and a hit always compares the full token, so a
// collision can only cost a miss, never hand out another token's claims. Hashing
// only the tail and comparing eight bytes at a time keeps a hit cheap inside wasm,
// where Go's byte-at-a-time memequal and 64-bit hash multiplications are slow.
// Call Purge when the key set changes.
type Cache struct {
	mu      sync.Mutex
	max     int
	seed    maphash.Seed
	entries map[uint64]*cacheEntry
	head    cacheEntry // sentinel of the LRU list; head.next is the most recent
}

type cacheEntry struct {
	hash       uint64
	token      string
	tok        *Token
	expires    time.Time
	prev, next *cacheEntry
}

// NewCache returns a cache holding at most maxEntries tokens (minimum 1).
func NewCache(maxEntries int) *Cache {
	if maxEntries < 1 {
		maxEntries = 1
	}
	c := &Cache{max: maxEntries, seed: maphash.MakeSeed(), entries: make(map[uint64]*cacheEntry)}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

// Get returns the verified token if token is cached and has not expired at now.
func (c *Cache) Get(token string, now time.Time) (*Token, bool) {
	h := c.hashOf(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[h]
	if e == nil || !equalTokens(e.token, token) {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return nil, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.tok, true
}

// Put caches a verified token until expires (callers pass min(exp, now+ttl)). A
// token that collides with another token's hash replaces it.
func (c *Cache) Put(token string, t *Token, expires time.Time) {
	h := c.hashOf(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[h]; e != nil {
		c.remove(e)
	}
	e := &cacheEntry{hash: h, token: token, tok: t, expires: expires}
	c.entries[h] = e
	c.pushFront(e)
	for len(c.entries) > c.max {
		c.remove(c.head.prev)
	}
}

// Purge drops every entry (call it when the JWKS changes).
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.head.next, c.head.prev = &c.head, &c.head
}

// Len returns the number of cached entries (expired ones included until touched).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.hash)
}

func (c *Cache) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache) pushFront(e *cacheEntry) {
	e.prev = &c.head
	e.next = c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// cacheHashTail is how many trailing bytes of a token are hashed.
const cacheHashTail = 32

func (c *Cache) hashOf(token string) uint64 {
	tail := token
	if len(tail) > cacheHashTail {
		tail = tail[len(tail)-cacheHashTail:]
	}
	return maphash.String(c.seed, tail) ^ uint64(len(token))*0x9e3779b97f4a7c15
}

// equalTokens compares a and b eight bytes at a time under wasm (Go's memequal
// there is a byte loop); elsewhere the runtime's vectorised == is faster and needs
// no unaligned loads.
func equalTokens(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	if runtime.GOARCH != "wasm" {
		return a == b
	}
	n := len(a)
	if n == 0 {
		return true
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	if pa == pb {
		return true
	}
	i := 0
	for ; i+32 <= n; i += 32 {
		x := *(*uint64)(unsafe.Add(pa, i)) ^ *(*uint64)(unsafe.Add(pb, i))
		x |= *(*uint64)(unsafe.Add(pa, i+8)) ^ *(*uint64)(unsafe.Add(pb, i+8))
		x |= *(*uint64)(unsafe.Add(pa, i+16)) ^ *(*uint64)(unsafe.Add(pb, i+16))
		x |= *(*uint64)(unsafe.Add(pa, i+24)) ^ *(*uint64)(unsafe.Add(pb, i+24))
		if x != 0 {
			return false
		}
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
