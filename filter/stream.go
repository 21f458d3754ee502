package main

import (
	"errors"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/jwt"
)

// outcome is what a decision did with the request.
type outcome int

const (
	// forward: the request goes on to the upstream.
	forward outcome = iota
	// responded: a local response was sent.
	responded
	// paused: the request waits for keys; a tick or a fetch result resumes it.
	paused
)

// stream gates one HTTP request.
type stream struct {
	abi.DefaultHTTPContext
	id     uint32
	plugin *plugin

	rule      *rule
	token     string
	source    *tokenSource
	requestID string
	// headers is the request as it arrived, read with one host call (each single-header read
	// costs a host call that re-enters the guest to allocate). The keys and values point into
	// hbuf; both are kept for the stream's reuse (see Release), so a request allocates nothing.
	headers []abi.Header
	hbuf    []byte

	// While paused: when to give up, the key state waited on, and whether the wait is an
	// unknown-kid refetch (a second unknown kid then fails instead of fetching again).
	deadline  time.Time
	waitingOn *keyState
	refetch   bool
}

// OnRequestHeaders strips the headers the filter injects, picks the rule, finds and verifies the
// token, checks the rule's requirements, and forwards, answers or pauses the request.
func (s *stream) OnRequestHeaders(int, bool) abi.Action {
	p := s.plugin
	h := p.host
	if p.cfg == nil {
		sendProblem(h, defaultRealm, 503, "", "not_configured", "")
		return abi.ActionPause
	}
	cfg := p.cfg
	// The request's headers, their strings pointing into s.hbuf, which this stream reuses
	// for its next request: whatever outlives the request (the token a cache keeps) is copied.
	headers, hbuf, err := h.HeadersInto(abi.MapHTTPRequestHeaders, s.headers, s.hbuf)
	s.headers, s.hbuf = headers, hbuf
	if err != nil {
		s.deny(400, "", "unreadable_headers")
		return abi.ActionPause
	}
	// Strip first, on every path, so a client can never supply its own identity headers.
	for _, name := range cfg.injected {
		if s.has(name) {
			_ = h.RemoveHeader(abi.MapHTTPRequestHeaders, name)
		}
	}
	s.requestID, _ = s.header("x-request-id")
	method, _ := s.header(":method")
	rawPath, _ := s.header(":path")

	if cfg.corsBypass && method == "OPTIONS" && s.has("origin") && s.has("access-control-request-method") {
		p.count("gatewarden_cors_preflight_bypassed")
		return abi.ActionContinue
	}
	path, ok := normalizePath(rawPath)
	if !ok && len(cfg.rules) > 0 {
		s.deny(400, "", "ambiguous_path")
		return abi.ActionPause
	}
	s.rule = cfg.defaultRule
	for _, r := range cfg.rules {
		if r.match(method, path) {
			s.rule = r
			break
		}
	}
	if s.rule == nil {
		s.deny(403, "", "no_matching_rule")
		return abi.ActionPause
	}
	if s.rule.public {
		p.countHot(&p.allowed, "gatewarden_allowed")
		return abi.ActionContinue
	}
	token, src, err := s.findToken(rawPath)
	switch {
	case errors.Is(err, errMultipleTokens):
		s.deny(401, "invalid_request", "multiple_tokens")
		return abi.ActionPause
	case err != nil:
		s.deny(401, "invalid_token", jwt.Reason(jwt.ErrMalformed))
		return abi.ActionPause
	case token == "" && s.rule.allowMissing:
		p.count("gatewarden_allowed_anonymous")
		return abi.ActionContinue
	case token == "":
		s.deny(401, "", "missing_token")
		return abi.ActionPause
	}
	s.token, s.source = token, src
	if s.decide(h.Now()) == forward {
		return abi.ActionContinue
	}
	return abi.ActionPause
}

// resume re-runs the decision of a paused request; the effective context is this stream.
func (s *stream) resume(now time.Time) {
	s.waitingOn = nil
	if s.decide(now) == forward {
		_ = s.plugin.host.ContinueStream(abi.StreamRequest)
	}
}

// Release implements abi.Releaser: the VM deleted the stream, so it is cleared and kept for
// the next request (OnDone ran before, so no key state refers to it).
func (s *stream) Release() {
	p := s.plugin
	headers, hbuf := s.headers[:0], s.hbuf[:0]
	clear(s.headers[:cap(s.headers)]) // drop the strings into hbuf (and older buffers)
	*s = stream{plugin: p, headers: headers, hbuf: hbuf}
	if len(p.free) < maxFreeStreams {
		p.free = append(p.free, s)
	}
}

// OnDone forgets a request that ended while paused (the client went away).
func (s *stream) OnDone() {
	if s.waitingOn != nil {
		delete(s.waitingOn.waiters, s.id)
		s.waitingOn = nil
	}
}

// decide verifies the token for the rule, then authorizes and forwards it, answers, or pauses
// to wait for keys.
func (s *stream) decide(now time.Time) outcome {
	p := s.plugin
	tok, ks, err := s.verify(now)
	if ks != nil {
		// Wait for keys: the first fetch, or a refetch for an unknown kid.
		if s.deadline.IsZero() {
			s.deadline = now.Add(ks.prov.pauseTimeout)
		}
		if now.Before(s.deadline) {
			s.waitingOn = ks
			ks.waiters[s.id] = s
			p.setTick(fastTick)
			return paused
		}
		if ks.current(now) == nil {
			s.deny(503, "", "jwks_unavailable")
			return responded
		}
		err = jwt.ErrUnknownKey
	}
	if err != nil {
		s.deny(401, "invalid_token", jwt.Reason(err))
		return responded
	}
	if reason := s.rule.authorize(tok.Claims); reason != "" {
		s.deny(403, "insufficient_scope", reason)
		return responded
	}
	s.inject(tok)
	p.countHot(&p.allowed, "gatewarden_allowed")
	return forward
}

// verify checks the token against the rule's providers (any one, or all with all_of), cache
// first. A non-nil keyState means "wait for this provider's keys".
func (s *stream) verify(now time.Time) (*jwt.Token, *keyState, error) {
	if !s.rule.allOf {
		// The hot path: a token one of the rule's providers verified before.
		for _, prov := range s.rule.providers {
			if tok := s.cached(prov, now); tok != nil {
				return tok, nil, nil
			}
		}
	}
	var candidates []*provider
	if iss, ok := peekIssuer(s.token); ok {
		for _, prov := range s.rule.providers {
			if contains(prov.issuers, iss) {
				candidates = append(candidates, prov)
			}
		}
		if len(candidates) == 0 {
			return nil, nil, jwt.ErrIssuer
		}
		if s.rule.allOf && len(candidates) != len(s.rule.providers) {
			return nil, nil, jwt.ErrIssuer
		}
	} else {
		candidates = s.rule.providers
	}
	var first *jwt.Token
	var lastErr error
	for _, prov := range candidates {
		tok, ks, err := s.verifyWith(prov, now)
		if ks != nil {
			return nil, ks, nil
		}
		if err != nil {
			if s.rule.allOf {
				return nil, nil, err
			}
			lastErr = err
			continue
		}
		if !s.rule.allOf {
			return tok, nil, nil
		}
		if first == nil {
			first = tok
		}
	}
	if first != nil {
		return first, nil, nil
	}
	return nil, nil, lastErr
}

// cached returns the token if prov's verified-token cache has it, counting hits and misses.
func (s *stream) cached(prov *provider, now time.Time) *jwt.Token {
	p := s.plugin
	ks := p.keys[prov]
	c := ks.cache
	if c == nil || ks.current(now) == nil {
		// No cache, or keys too old to trust (stale_max_age): what they verified is not
		// trusted either.
		return nil
	}
	if tok, ok := c.Get(s.token, now); ok {
		p.countHot(&p.cacheHit, "gatewarden_cache_hit")
		return tok
	}
	p.countHot(&p.cacheMiss, "gatewarden_cache_miss")
	return nil
}

func (s *stream) verifyWith(prov *provider, now time.Time) (*jwt.Token, *keyState, error) {
	p := s.plugin
	ks := p.keys[prov]
	if s.rule.allOf {
		if tok := s.cached(prov, now); tok != nil {
			return tok, nil, nil
		}
	}
	keys := ks.current(now)
	if keys == nil && prov.remote() {
		// Another VM may have fetched since our last tick: look before fetching ourselves.
		p.syncShared(ks, now)
		if keys = ks.current(now); keys == nil {
			p.maybeFetch(ks, now)
			return nil, ks, nil
		}
	}
	tok, err := prov.verifier.Verify(s.token, keys, now)
	if errors.Is(err, jwt.ErrUnknownKey) && prov.remote() {
		// Another VM may have fetched the rotated keys already: adopt them before refetching.
		p.syncShared(ks, now)
		if fresh := ks.current(now); fresh != nil && fresh != keys {
			tok, err = prov.verifier.Verify(s.token, fresh, now)
		}
	}
	if errors.Is(err, jwt.ErrUnknownKey) && prov.remote() && !s.refetch {
		if p.refetchForUnknownKid(ks, now) || now.Before(p.readLease(ks).until) {
			s.refetch = true
			return nil, ks, nil
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if c := ks.cache; c != nil {
		expires := now.Add(p.cfg.cacheTTL)
		if exp := tok.Claims.ExpiresAt; !exp.IsZero() && exp.Before(expires) {
			expires = exp
		}
		// The token points into the stream's header buffer, reused by its next request.
		c.Put(strings.Clone(s.token), tok, expires)
	}
	return tok, nil, nil
}

// header returns the first value of name (lower case) in the request as it arrived.
func (s *stream) header(name string) (string, bool) {
	for _, h := range s.headers {
		if h.Key == name {
			return h.Value, true
		}
	}
	return "", false
}

func (s *stream) has(name string) bool {
	_, ok := s.header(name)
	return ok
}

// deny answers the request and counts the reason. Reasons are fixed identifiers, never token
// contents, so they are safe in headers, bodies, logs and metric names.
func (s *stream) deny(status int, errCode, reason string) {
	p := s.plugin
	realm := defaultRealm
	if p.cfg != nil {
		realm = p.cfg.realm
	}
	if p.host.LogLevel() <= abi.LogDebug {
		p.host.Log(abi.LogDebug, "gatewarden: denied "+reason)
	}
	p.count("gatewarden_denied")
	p.count("gatewarden_denied_" + reason)
	sendProblem(p.host, realm, status, errCode, reason, s.requestID)
}
