package jwt

import (
	"hash/maphash"
	"sync"
	"time"
)

// Cache is a bounded LRU of verified tokens, safe for concurrent use. Entries are
// keyed by a hash of the token, but a hit always compares the full token, so a hash
// collision can never hand out another token's claims. Call Purge when the key set
// changes.
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
	if e == nil || e.token != token {
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

func (c *Cache) hashOf(token string) uint64 { return maphash.String(c.seed, token) }
