package main

import (
	"encoding/base64"
	"strings"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/jwt"
)

// inject adds the identity headers of a verified token to the request and, with forward off,
// removes the token from where it came. The header values are worked out once per verified
// token and kept with it in the cache (jwt.Token.Memo), so a cache hit costs only the writes.
func (s *stream) inject(tok *jwt.Token) {
	p := s.plugin
	ids, ok := tok.Memo.([]abi.Header)
	if !ok {
		ids = p.identity(tok.Claims)
		tok.Memo = ids
	}
	for _, h := range ids {
		_ = p.host.ReplaceHeader(abi.MapHTTPRequestHeaders, h.Key, h.Value)
	}
	if !p.cfg.forward && s.source != nil {
		s.removeToken()
	}
}

// identity returns the headers a token's claims yield. Values are sanitized (no control
// characters, so no header injection); a value over max_header_bytes is left out whole (and
// counted) rather than cut.
func (p *plugin) identity(c *jwt.Claims) []abi.Header {
	cfg := p.cfg
	var out []abi.Header
	add := func(name, value string) {
		if name == "" || value == "" {
			return
		}
		value = sanitize(value)
		if len(value) > cfg.maxHeaderBytes {
			p.count("gatewarden_header_too_large")
			return
		}
		out = append(out, abi.Header{Key: name, Value: value})
	}
	add(cfg.clientIDHeader, c.AuthorizedParty)
	add(cfg.userIDHeader, c.Subject)
	add(cfg.rolesHeader, strings.Join(c.Strings("realm_access.roles"), ","))
	if cfg.payloadHeader != "" {
		add(cfg.payloadHeader, base64.RawURLEncoding.EncodeToString(c.Raw()))
	}
	for _, ch := range cfg.claimHeaders {
		if ch.json {
			if raw, ok := c.JSON(ch.claim); ok {
				add(ch.header, string(raw))
			}
			continue
		}
		add(ch.header, strings.Join(c.Strings(ch.claim), ch.separator))
	}
	return out
}

// removeToken takes the token out of the request, for upstreams that must not see it.
func (s *stream) removeToken() {
	h := s.plugin.host
	src := s.source
	switch {
	case src.header != "":
		_ = h.RemoveHeader(abi.MapHTTPRequestHeaders, src.header)
	case src.query != "":
		if path, ok := s.header(":path"); ok {
			_ = h.ReplaceHeader(abi.MapHTTPRequestHeaders, ":path", withoutQueryParam(path, src.query))
		}
	case src.cookie != "":
		if v, ok := s.header("cookie"); ok {
			if rest := withoutCookie(v, src.cookie); rest != "" {
				_ = h.ReplaceHeader(abi.MapHTTPRequestHeaders, "cookie", rest)
			} else {
				_ = h.RemoveHeader(abi.MapHTTPRequestHeaders, "cookie")
			}
		}
	}
}

// sanitize makes a claim value safe as a header value: control characters (CR, LF, NUL, ...)
// are dropped, so a claim can never start a new header.
func sanitize(v string) string {
	if strings.IndexFunc(v, isControl) < 0 {
		return v
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, v)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
