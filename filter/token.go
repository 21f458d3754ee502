package main

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// errMultipleTokens: two sources carried different tokens; which one counts would be a guess.
var errMultipleTokens = errors.New("different tokens in one request")

// errMalformedCredentials: a source matched but held no usable token (e.g. "Bearer" alone).
var errMalformedCredentials = errors.New("malformed credentials")

// findToken looks through the configured sources in order. It returns "" without error when no
// source carries a token, and errMultipleTokens when two carry different ones.
func (s *stream) findToken(rawPath string) (string, *tokenSource, error) {
	var token string
	var from *tokenSource
	for i := range s.plugin.cfg.sources {
		src := &s.plugin.cfg.sources[i]
		var t string
		var found bool
		switch {
		case src.header != "":
			v, ok := s.header(src.header)
			if !ok {
				continue
			}
			t, found = stripPrefix(v, src.prefix)
			if found && t == "" {
				return "", nil, errMalformedCredentials
			}
		case src.query != "":
			t, found = queryParam(rawPath, src.query)
		case src.cookie != "":
			v, ok := s.header("cookie")
			if !ok {
				continue
			}
			t, found = cookieValue(v, src.cookie)
		}
		if !found || t == "" {
			continue
		}
		if token != "" && t != token {
			return "", nil, errMultipleTokens
		}
		if token == "" {
			token, from = t, src
		}
	}
	return token, from, nil
}

// stripPrefix returns v without prefix (compared case-insensitively: "Bearer" is a scheme,
// RFC 7235), trimmed. found is false when v does not start with the prefix; a bare scheme
// ("Bearer") is found with an empty token.
func stripPrefix(v, prefix string) (string, bool) {
	if prefix == "" {
		return strings.TrimSpace(v), true
	}
	scheme := strings.TrimRight(prefix, " ")
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	return strings.Trim(rest, " \t"), true
}

// queryParam returns the decoded value of name in the query of a request path.
func queryParam(rawPath, name string) (string, bool) {
	_, q, ok := strings.Cut(rawPath, "?")
	if !ok {
		return "", false
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		d, err := url.QueryUnescape(v)
		if err != nil {
			return "", false
		}
		return d, true
	}
	return "", false
}

// withoutQueryParam returns rawPath with every name=... pair removed from its query.
func withoutQueryParam(rawPath, name string) string {
	path, q, ok := strings.Cut(rawPath, "?")
	if !ok {
		return rawPath
	}
	var kept []string
	for _, kv := range strings.Split(q, "&") {
		if k, _, _ := strings.Cut(kv, "="); k != name && kv != "" {
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return path
	}
	return path + "?" + strings.Join(kept, "&")
}

// cookieValue returns the value of cookie name in a Cookie header.
func cookieValue(header, name string) (string, bool) {
	for _, part := range strings.Split(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

// withoutCookie returns a Cookie header without cookie name.
func withoutCookie(header, name string) string {
	var kept []string
	for _, part := range strings.Split(header, ";") {
		p := strings.TrimSpace(part)
		if k, _, _ := strings.Cut(p, "="); k != name && p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "; ")
}

// peekIssuer reads "iss" from a token's payload without verifying anything, only to pick the
// provider whose keys will verify it.
func peekIssuer(token string) (string, bool) {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return "", false
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || second > 64<<10 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(rest[:second])
	if err != nil {
		return "", false
	}
	iss := gjson.GetBytes(payload, "iss")
	if iss.Type != gjson.String {
		return "", false
	}
	return iss.Str, true
}
