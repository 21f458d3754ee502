package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/jwt"
	"github.com/tidwall/gjson"
)

// What an in-flight HTTP call fetches.
const (
	fetchDiscovery = iota + 1
	fetchJWKS
)

// keyState is one VM's view of a provider's keys and of the fetch in flight.
//
// The VMs of a plugin share keys through proxy shared data: the VM that holds the fetch lease
// fetches and publishes "<fetchedAt><JWKS>" under sharedKey; every VM adopts a newer published
// set on its next tick. So N workers cause one fetch, not N.
type keyState struct {
	prov      *provider
	sharedKey string

	keys      *jwt.KeySet
	raw       []byte    // the JWKS document behind keys, to tell a real change from a refresh
	fetchedAt time.Time // when keys were fetched, by any VM
	sharedCAS uint32

	jwksURL     *url.URL // from the configuration or discovery
	callID      uint32   // this VM's call in flight, 0 for none
	callKind    int
	callStarted time.Time
	nextAttempt time.Time // earliest next fetch: the refresh schedule or the failure backoff
	failures    int
	lastError   string

	waiters map[uint32]*stream // requests paused until keys arrive or a refetch ends
	cache   *jwt.Cache         // tokens these keys verified; nil when the cache is off
}

func sharedKeyOf(prov *provider) string {
	src := ""
	switch {
	case prov.jwksURL != nil:
		src = prov.jwksURL.String()
	case prov.discovery != nil:
		src = prov.discovery.String()
	}
	return "gatewarden/jwks/" + prov.name + "/" + src
}

// current returns the usable keys: nil before the first fetch, and nil once the last good set is
// older than stale_max_age (fail closed rather than trust keys that may have been revoked).
func (ks *keyState) current(now time.Time) *jwt.KeySet {
	if ks.keys == nil {
		return nil
	}
	if ks.prov.remote() && now.Sub(ks.fetchedAt) > ks.prov.staleMaxAge {
		return nil
	}
	return ks.keys
}

// syncShared adopts a key set another VM published, if it is newer than ours.
func (p *plugin) syncShared(ks *keyState, now time.Time) {
	v, cas, err := p.host.SharedData(ks.sharedKey)
	if err != nil || cas == ks.sharedCAS || len(v) < 8 {
		return
	}
	ks.sharedCAS = cas
	at := time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
	if ks.keys != nil && !at.After(ks.fetchedAt) {
		return
	}
	set, err := jwt.ParseJWKS(v[8:])
	if err != nil {
		return // never published by us; ignore
	}
	p.adopt(ks, set, v[8:], at, now)
}

// adopt installs a new key set; the verified-token cache is purged when the keys really changed,
// so tokens signed by a removed key stop passing at once.
func (p *plugin) adopt(ks *keyState, set *jwt.KeySet, raw []byte, fetchedAt, now time.Time) {
	if ks.raw != nil && !bytes.Equal(ks.raw, raw) && ks.cache != nil {
		ks.cache.Purge()
	}
	ks.keys, ks.raw, ks.fetchedAt = set, raw, fetchedAt
	ks.failures = 0
	ks.nextAttempt = fetchedAt.Add(p.jitter(ks.prov.refresh))
	p.resumeWaiters(ks, now, true)
}

// jitter spreads refreshes by up to ±10% so VMs and gateways don't fetch in lockstep.
func (p *plugin) jitter(d time.Duration) time.Duration {
	span := int64(d / 5)
	if span <= 0 {
		return d
	}
	return d - d/10 + time.Duration(p.rand.Int64N(span))
}

// lease is the shared record of who fetches: until when the holder may, and when the last
// fetch started (for the unknown-kid cool-down across VMs).
type lease struct {
	until, lastAttempt time.Time
	cas                uint32
}

func (p *plugin) readLease(ks *keyState) lease {
	v, cas, err := p.host.SharedData(ks.sharedKey + "/lease")
	if err != nil || len(v) != 16 {
		return lease{cas: cas}
	}
	return lease{
		until:       time.Unix(0, int64(binary.LittleEndian.Uint64(v))),
		lastAttempt: time.Unix(0, int64(binary.LittleEndian.Uint64(v[8:]))),
		cas:         cas,
	}
}

func (p *plugin) writeLease(ks *keyState, until, lastAttempt time.Time, cas uint32) bool {
	var v [16]byte
	binary.LittleEndian.PutUint64(v[:], uint64(until.UnixNano()))
	binary.LittleEndian.PutUint64(v[8:], uint64(lastAttempt.UnixNano()))
	return p.host.SetSharedData(ks.sharedKey+"/lease", v[:], cas) == nil
}

// maybeFetch starts a fetch when one is due (no keys yet, refresh time, backoff over) and no
// VM is fetching already.
func (p *plugin) maybeFetch(ks *keyState, now time.Time) {
	if ks.callID != 0 || now.Before(ks.nextAttempt) {
		return
	}
	p.startFetch(ks, now)
}

// refetchForUnknownKid starts a fetch for a token naming a kid the keys lack, unless a fetch
// started within kid_refetch_cooldown on any VM: a flood of random kids costs the key server at
// most one request per cool-down. It reports whether a fetch is now in flight on this VM.
func (p *plugin) refetchForUnknownKid(ks *keyState, now time.Time) bool {
	if ks.callID != 0 {
		return true
	}
	if l := p.readLease(ks); now.Sub(l.lastAttempt) < ks.prov.kidCooldown {
		return false
	}
	return p.startFetch(ks, now)
}

// startFetch takes the lease and sends the first call. It reports whether a call is in flight.
func (p *plugin) startFetch(ks *keyState, now time.Time) bool {
	l := p.readLease(ks)
	if now.Before(l.until) {
		return false // another VM is fetching; its result arrives through shared data
	}
	if !p.writeLease(ks, now.Add(ks.prov.fetchTimeout+time.Second), now, l.cas) {
		return false
	}
	switch {
	case ks.prov.jwksURL != nil:
		ks.jwksURL = ks.prov.jwksURL
	case ks.jwksURL == nil:
		return p.call(ks, fetchDiscovery, ks.prov.discovery, now)
	}
	return p.call(ks, fetchJWKS, ks.jwksURL, now)
}

func (p *plugin) call(ks *keyState, kind int, u *url.URL, now time.Time) bool {
	authority := ks.prov.authority
	if authority == "" {
		authority = u.Host
	}
	headers := []abi.Header{
		{Key: ":method", Value: "GET"},
		{Key: ":path", Value: u.RequestURI()},
		{Key: ":authority", Value: authority},
		{Key: ":scheme", Value: u.Scheme},
		{Key: "accept", Value: "application/json"},
		{Key: "user-agent", Value: "gatewarden"},
	}
	// Calls belong to the root context, whichever context triggered them.
	_ = p.host.SetEffectiveContext(p.id)
	id, err := p.host.HTTPCall(ks.prov.upstream, headers, nil, ks.prov.fetchTimeout)
	if err != nil {
		p.host.Log(abi.LogError, "gatewarden: provider "+ks.prov.name+": cannot call upstream "+
			strconv.Quote(ks.prov.upstream)+": "+err.Error()+"; check that the host defines it (an Envoy cluster, a gateway upstream)")
		p.fetchFailed(ks, now, "upstream_unavailable")
		return false
	}
	ks.callID, ks.callKind, ks.callStarted = id, kind, now
	return true
}

// onFetchResponse handles a discovery document or a JWKS.
func (p *plugin) onFetchResponse(ks *keyState, numHeaders, bodySize int) {
	now := p.host.Now()
	kind := ks.callKind
	ks.callID = 0
	if numHeaders == 0 {
		p.fetchFailed(ks, now, "fetch_failed")
		return
	}
	status, _ := p.host.Header(abi.MapHTTPCallResponseHeaders, ":status")
	if status != "200" {
		p.fetchFailed(ks, now, "http_status_"+status)
		return
	}
	if bodySize > maxJWKSBytes {
		p.fetchFailed(ks, now, "too_large")
		return
	}
	body, err := p.host.GetBuffer(abi.BufferHTTPCallResponseBody, 0, bodySize)
	if err != nil && bodySize > 0 {
		p.fetchFailed(ks, now, "no_body")
		return
	}
	if kind == fetchDiscovery {
		u, err := p.discoveredJWKS(ks, body)
		if err != nil {
			p.fetchFailed(ks, now, err.Error())
			return
		}
		ks.jwksURL = u
		p.call(ks, fetchJWKS, u, now)
		return
	}
	set, err := jwt.ParseJWKS(body)
	if err != nil {
		p.fetchFailed(ks, now, "bad_jwks: "+jwt.Reason(err))
		return
	}
	p.count("gatewarden_jwks_fetch_ok")
	ks.lastError = ""
	// Publish for the other VMs, then release the lease (keeping the attempt time).
	v := make([]byte, 8+len(body))
	binary.LittleEndian.PutUint64(v, uint64(now.UnixNano()))
	copy(v[8:], body)
	if p.host.SetSharedData(ks.sharedKey, v, 0) == nil {
		if _, cas, err := p.host.SharedData(ks.sharedKey); err == nil {
			ks.sharedCAS = cas
		}
	}
	p.writeLease(ks, time.Time{}, ks.callStarted, 0)
	p.adopt(ks, set, body, now, now)
	p.host.Log(abi.LogInfo, "gatewarden: provider "+ks.prov.name+": fetched "+strconv.Itoa(set.Len())+" signing keys")
}

// discoveredJWKS reads jwks_uri from an OpenID Provider configuration and checks that the
// document speaks for the configured issuer.
func (p *plugin) discoveredJWKS(ks *keyState, body []byte) (*url.URL, error) {
	if !gjson.ValidBytes(body) {
		return nil, errors.New("bad_discovery: not JSON")
	}
	doc := gjson.ParseBytes(body)
	if iss := doc.Get("issuer").Str; !contains(ks.prov.issuers, iss) {
		return nil, errors.New("bad_discovery: issuer " + strconv.Quote(iss) + " is not the configured issuer or an alias")
	}
	u, err := httpURL(doc.Get("jwks_uri").Str)
	if err != nil {
		return nil, errors.New("bad_discovery: no usable jwks_uri")
	}
	return u, nil
}

// fetchFailed keeps the last good keys (stale-if-error), backs off exponentially, releases the
// lease and wakes the requests that waited for this fetch.
func (p *plugin) fetchFailed(ks *keyState, now time.Time, reason string) {
	ks.callID = 0
	ks.failures++
	backoff := time.Second << min(ks.failures-1, 10)
	if backoff > ks.prov.refresh {
		backoff = ks.prov.refresh
	}
	ks.nextAttempt = now.Add(backoff)
	if ks.lastError != reason || ks.failures == 1 {
		p.host.Log(abi.LogWarn, "gatewarden: provider "+ks.prov.name+": key fetch failed ("+reason+"); retrying in "+backoff.String()+", keeping the last good keys")
	}
	ks.lastError = reason
	p.count("gatewarden_jwks_fetch_failed")
	p.writeLease(ks, time.Time{}, ks.callStarted, 0)
	p.resumeWaiters(ks, now, true)
}

// resumeWaiters re-runs the decision of paused requests. With settled true (keys changed or a
// fetch ended) every waiter gets its final answer; otherwise only those whose keys arrived or
// whose pause_timeout passed.
func (p *plugin) resumeWaiters(ks *keyState, now time.Time, settled bool) {
	if len(ks.waiters) == 0 {
		return
	}
	var ready []*stream
	fetching := ks.callID != 0 || now.Before(p.readLease(ks).until) // here or on another VM
	for id, s := range ks.waiters {
		if !settled && now.Before(s.deadline) && (ks.current(now) == nil || (s.refetch && fetching)) {
			continue
		}
		delete(ks.waiters, id)
		ready = append(ready, s)
	}
	// Resuming may pause a request again (keys still missing, deadline ahead), which adds it back
	// to the waiters: hence the list, not a resume inside the map loop.
	for _, s := range ready {
		if p.host.SetEffectiveContext(s.id) != nil {
			continue // the request is gone
		}
		s.resume(now)
	}
	_ = p.host.SetEffectiveContext(p.id)
}
