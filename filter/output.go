package main

import (
	"encoding/base64"
	"strings"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/jwt"
)

// inject adds the identity headers of a verified token to the request and, with forward off,
// removes the token from where it came. Values are sanitized (no control characters, so no
// header injection) and bounded; a value over max_header_bytes is left out whole rather than cut.
func (s *stream) inject(tok *jwt.Token) {
	p := s.plugin
	cfg := p.cfg
	h := p.host
	c := tok.Claims
	set := func(name, value string) {
		if name == "" || value == "" {
			return
		}
		value = sanitize(value)
		if len(value) > cfg.maxHeaderBytes {
			p.count("gatewarden_header_too_large")
			return
		}
		_ = h.ReplaceHeader(abi.MapHTTPRequestHeaders, name, value)
	}
	set(cfg.clientIDHeader, c.AuthorizedParty)
	set(cfg.userIDHeader, c.Subject)
	set(cfg.rolesHeader, strings.Join(c.Strings("realm_access.roles"), ","))
	if cfg.payloadHeader != "" {
		set(cfg.payloadHeader, base64.RawURLEncoding.EncodeToString(c.Raw()))
	}
	for _, ch := range cfg.claimHeaders {
		if ch.json {
			if raw, ok := c.JSON(ch.claim); ok {
				set(ch.header, string(raw))
			}
			continue
		}
		set(ch.header, strings.Join(c.Strings(ch.claim), ch.separator))
	}
	if !cfg.forward && s.source != nil {
		s.removeToken()
	}
}

// removeToken takes the token out of the request, for upstreams that must not see it.
func (s *stream) removeToken() {
	h := s.plugin.host
	src := s.source
	switch {
	case src.header != "":
		_ = h.RemoveHeader(abi.MapHTTPRequestHeaders, src.header)
	case src.query != "":
		if path, err := h.Header(abi.MapHTTPRequestHeaders, ":path"); err == nil {
			_ = h.ReplaceHeader(abi.MapHTTPRequestHeaders, ":path", withoutQueryParam(path, src.query))
		}
	case src.cookie != "":
		if v, err := h.Header(abi.MapHTTPRequestHeaders, "cookie"); err == nil {
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
