package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/gatewarden/gatewarden/jwt"
	"github.com/tidwall/gjson"
)

// Path match kinds.
const (
	matchPrefix = "prefix"
	matchExact  = "exact"
	matchRegex  = "regex"
)

// rule is one entry of "rules": a request match and what the request must bring.
type rule struct {
	index   int // position in the configuration, for logs and metrics
	path    string
	kind    string
	re      *regexp.Regexp
	methods []string // upper case; empty = any

	public       bool // no token needed; a sent token is ignored
	allowMissing bool // anonymous allowed; a sent token must verify
	providers    []*provider
	allOf        bool // the token must satisfy every provider, not any one

	realmRoles  []string
	clientRoles []clientRole
	anyRole     bool // one of the listed roles suffices (default: all are needed)
	scopes      []string
	azp         []string
	claims      []claimCheck
}

type clientRole struct{ client, role string }

// claimCheck is a required claim value: equals one of values, or contains value.
type claimCheck struct {
	path     string
	oneOf    []string
	contains string
}

// parseRules reads "rules" and "default_action". Without rules every request needs a valid token
// from any provider.
func (c *config) parseRules(root gjson.Result) error {
	action, err := optString(root, "default_action", "")
	if err != nil {
		return err
	}
	rs := root.Get("rules")
	if rs.Exists() && !rs.IsArray() {
		return fmt.Errorf("%w: rules must be an array like [{\"prefix\":\"/api/\",\"realm_roles\":[\"user\"]}], got %s", errConfig, clip(rs.Raw))
	}
	for i, r := range rs.Array() {
		rl, err := c.parseRule(r, i)
		if err != nil {
			return err
		}
		c.rules = append(c.rules, rl)
	}
	if action == "" {
		action = defaultDeny
		if len(c.rules) == 0 {
			action = defaultAuthenticate
		}
	}
	switch action {
	case defaultDeny:
		c.defaultRule = nil
	case defaultAuthenticate:
		c.defaultRule = &rule{index: -1, providers: c.providers}
	case defaultAllow:
		c.defaultRule = &rule{index: -1, public: true}
	default:
		return fmt.Errorf("%w: default_action %q must be \"deny\" (403), \"authenticate\" (any provider's valid token) or \"allow\"", errConfig, action)
	}
	return nil
}

func (c *config) parseRule(r gjson.Result, i int) (*rule, error) {
	at := fmt.Sprintf("rules[%d].", i)
	if err := checkKeys(r, at, "path", "prefix", "regex", "methods", "public", "allow_missing",
		"provider", "any_of", "all_of", "realm_roles", "client_roles", "any_role", "scopes",
		"azp", "claims"); err != nil {
		return nil, err
	}
	rl := &rule{index: i}
	set := 0
	for _, kind := range []string{"path", "prefix", "regex"} {
		v := r.Get(kind)
		if !v.Exists() {
			continue
		}
		set++
		if v.Type != gjson.String || v.Str == "" {
			return nil, fmt.Errorf("%w: %s%s must be a non-empty string, got %s", errConfig, at, kind, clip(v.Raw))
		}
		rl.path = v.Str
		switch kind {
		case "path":
			rl.kind = matchExact
		case "prefix":
			rl.kind = matchPrefix
		case "regex":
			rl.kind = matchRegex
			re, err := regexp.Compile(`^(?:` + v.Str + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%w: %sregex %q does not compile: %v", errConfig, at, v.Str, err)
			}
			rl.re = re
		}
		if kind != "regex" && !strings.HasPrefix(v.Str, "/") {
			return nil, fmt.Errorf("%w: %s%s %q must start with '/'", errConfig, at, kind, v.Str)
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("%w: %s needs exactly one of \"path\" (exact), \"prefix\" or \"regex\"", errConfig, at[:len(at)-1])
	}
	methods, err := optStrings(r, at, "methods")
	if err != nil {
		return nil, err
	}
	for _, m := range methods {
		rl.methods = append(rl.methods, strings.ToUpper(m))
	}
	if rl.public, err = optBool(r, "public", at+"public", false); err != nil {
		return nil, err
	}
	if rl.allowMissing, err = optBool(r, "allow_missing", at+"allow_missing", false); err != nil {
		return nil, err
	}
	if rl.anyRole, err = optBool(r, "any_role", at+"any_role", false); err != nil {
		return nil, err
	}

	// Which providers may vouch for the token.
	var names []string
	kinds := 0
	if v := r.Get("provider"); v.Exists() {
		kinds++
		name, err := optString(r, "provider", "")
		if err != nil {
			return nil, err
		}
		names = []string{name}
	}
	for _, k := range []string{"any_of", "all_of"} {
		if r.Get(k).Exists() {
			kinds++
			if names, err = optStrings(r, at, k); err != nil {
				return nil, err
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("%w: %s%s must list provider names", errConfig, at, k)
			}
			rl.allOf = k == "all_of"
		}
	}
	if kinds > 1 {
		return nil, fmt.Errorf("%w: %s takes one of provider, any_of or all_of", errConfig, at[:len(at)-1])
	}
	for _, n := range names {
		p := c.byName[n]
		if p == nil {
			return nil, fmt.Errorf("%w: %s names provider %q, but no provider has that name; known: %s", errConfig, at[:len(at)-1], n, strings.Join(providerNames(c.providers), ", "))
		}
		rl.providers = append(rl.providers, p)
	}
	if len(rl.providers) == 0 {
		rl.providers = c.providers
	}

	if rl.realmRoles, err = optStrings(r, at, "realm_roles"); err != nil {
		return nil, err
	}
	crs, err := optStrings(r, at, "client_roles")
	if err != nil {
		return nil, err
	}
	for _, cr := range crs {
		client, role, ok := strings.Cut(cr, ":")
		if !ok || client == "" || role == "" {
			return nil, fmt.Errorf("%w: %sclient_roles entry %q must be \"client:role\", e.g. \"orders-api:reader\"", errConfig, at, cr)
		}
		rl.clientRoles = append(rl.clientRoles, clientRole{client: client, role: role})
	}
	if rl.scopes, err = optStrings(r, at, "scopes"); err != nil {
		return nil, err
	}
	if rl.azp, err = optStrings(r, at, "azp"); err != nil {
		return nil, err
	}
	cs := r.Get("claims")
	if cs.Exists() && !cs.IsArray() {
		return nil, fmt.Errorf("%w: %sclaims must be an array like [{\"claim\":\"email_verified\",\"equals\":\"true\"}]", errConfig, at)
	}
	for j, cc := range cs.Array() {
		cat := fmt.Sprintf("%sclaims[%d].", at, j)
		if err := checkKeys(cc, cat, "claim", "equals", "one_of", "contains"); err != nil {
			return nil, err
		}
		var chk claimCheck
		if chk.path, err = optString(cc, "claim", ""); err != nil || chk.path == "" {
			return nil, fmt.Errorf("%w: %sclaim must name a claim path", errConfig, cat)
		}
		eq, err := optString(cc, "equals", "")
		if err != nil {
			return nil, err
		}
		if eq != "" {
			chk.oneOf = []string{eq}
		}
		oneOf, err := optStrings(cc, cat, "one_of")
		if err != nil {
			return nil, err
		}
		chk.oneOf = append(chk.oneOf, oneOf...)
		if chk.contains, err = optString(cc, "contains", ""); err != nil {
			return nil, err
		}
		if len(chk.oneOf) == 0 && chk.contains == "" {
			return nil, fmt.Errorf("%w: %s needs \"equals\", \"one_of\" or \"contains\"", errConfig, cat[:len(cat)-1])
		}
		rl.claims = append(rl.claims, chk)
	}
	if rl.public && (rl.allowMissing || kinds > 0 || rl.needsClaims()) {
		return nil, fmt.Errorf("%w: %s is public: it cannot also ask for providers, roles, scopes or claims", errConfig, at[:len(at)-1])
	}
	return rl, nil
}

func (r *rule) needsClaims() bool {
	return len(r.realmRoles) > 0 || len(r.clientRoles) > 0 || len(r.scopes) > 0 || len(r.azp) > 0 || len(r.claims) > 0
}

func providerNames(ps []*provider) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.name
	}
	return out
}

// match reports whether the rule applies to method and the normalized path.
func (r *rule) match(method, path string) bool {
	if len(r.methods) > 0 {
		found := false
		for _, m := range r.methods {
			if m == method {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	switch r.kind {
	case matchExact:
		return path == r.path
	case matchRegex:
		return r.re.MatchString(path)
	default:
		// Prefixes match whole segments: "/api" matches "/api" and "/api/x", not "/apix".
		if !strings.HasPrefix(path, r.path) {
			return false
		}
		return len(path) == len(r.path) || strings.HasSuffix(r.path, "/") || path[len(r.path)] == '/'
	}
}

// authorize checks the rule's role, scope, client and claim requirements against verified
// claims. It returns "" when they hold, else the stable reason of the first that fails.
func (r *rule) authorize(c *jwt.Claims) string {
	if len(r.azp) > 0 && !contains(r.azp, c.AuthorizedParty) {
		return "client_not_allowed"
	}
	if len(r.realmRoles) > 0 || len(r.clientRoles) > 0 {
		if !r.rolesHeld(c) {
			return "missing_role"
		}
	}
	if len(r.scopes) > 0 {
		granted := scopesOf(c)
		for _, s := range r.scopes {
			if !contains(granted, s) {
				return "missing_scope"
			}
		}
	}
	for _, chk := range r.claims {
		if !chk.holds(c) {
			return "claim_mismatch"
		}
	}
	return ""
}

func (r *rule) rolesHeld(c *jwt.Claims) bool {
	held, needed := 0, len(r.realmRoles)+len(r.clientRoles)
	if len(r.realmRoles) > 0 {
		realm := c.Strings("realm_access.roles")
		for _, role := range r.realmRoles {
			if contains(realm, role) {
				held++
			}
		}
	}
	for _, cr := range r.clientRoles {
		if contains(c.Strings("resource_access."+escapePath(cr.client)+".roles"), cr.role) {
			held++
		}
	}
	if r.anyRole {
		return held > 0
	}
	return held == needed
}

// scopesOf returns the granted scopes: the space-delimited "scope" claim (RFC 8693, Keycloak)
// or an "scp" array (Azure AD, Okta).
func scopesOf(c *jwt.Claims) []string {
	if s, ok := c.String("scope"); ok {
		return strings.Fields(s)
	}
	return c.Strings("scp")
}

func (chk claimCheck) holds(c *jwt.Claims) bool {
	if len(chk.oneOf) > 0 {
		v, ok := c.String(chk.path)
		if !ok || !contains(chk.oneOf, v) {
			return false
		}
	}
	if chk.contains != "" {
		vals := c.Strings(chk.path)
		if len(vals) == 1 {
			vals = strings.Fields(vals[0])
		}
		if !contains(vals, chk.contains) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// escapePath escapes dots in a claim path segment, e.g. a client id like "app.example.com".
func escapePath(seg string) string { return strings.ReplaceAll(seg, ".", `\.`) }

// normalizePath returns the path used for rule matching: query stripped, "//" collapsed and
// "." / ".." segments resolved. ok is false for paths that upstreams may decode differently
// (percent-encoded '/', '\' or '.', a backslash, a NUL, or no leading '/'): those are refused
// rather than guessed at, so no encoding trick can slip past a rule.
func normalizePath(raw string) (string, bool) {
	if p, ok, done := normalizedAlready(raw); done {
		return p, ok
	}
	return normalizePathSlow(raw)
}

// normalizedAlready is normalizePath's single pass for the common case, a path with nothing
// to resolve or refuse: done is false when the path needs normalizePathSlow (an empty, "." or
// ".." segment, or anything it refuses), so both always agree (a fuzz test checks this).
func normalizedAlready(raw string) (p string, ok, done bool) {
	end := len(raw)
	if end == 0 || raw[0] != '/' {
		return "", false, false
	}
	segStart := 1
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '?', '#':
			end = i
		case '\\', 0, '%':
			return "", false, false
		case '/':
			if !plainSegment(raw[segStart:i]) {
				return "", false, false
			}
			segStart = i + 1
			continue
		default:
			continue
		}
		break
	}
	if last := raw[segStart:end]; last != "" && !plainSegment(last) {
		return "", false, false
	}
	return raw[:end], true, true
}

// plainSegment reports a segment that normalization keeps as it is.
func plainSegment(seg string) bool { return seg != "" && seg != "." && seg != ".." }

// normalizePathSlow is the general normalizePath.
func normalizePathSlow(raw string) (string, bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if !strings.HasPrefix(raw, "/") || strings.ContainsAny(raw, "\\\x00") {
		return "", false
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00"} {
		if strings.Contains(lower, bad) {
			return "", false
		}
	}
	segs := strings.Split(raw[1:], "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	p := "/" + strings.Join(out, "/")
	if strings.HasSuffix(raw, "/") && p != "/" {
		p += "/"
	}
	return p, true
}
