package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
	"github.com/tidwall/gjson"
)

// Defaults of the plugin configuration, documented in docs/CONFIG.md.
const (
	defaultRealm          = "gatewarden"
	defaultClientIDHeader = "x-client-id"
	defaultUserIDHeader   = "x-user-id"
	defaultRolesHeader    = "x-user-roles"
	defaultClockSkew      = 60 * time.Second
	defaultCacheEntries   = 10000
	defaultCacheTTL       = 5 * time.Minute
	defaultRefresh        = 5 * time.Minute
	defaultFetchTimeout   = 5 * time.Second
	defaultKidCooldown    = 30 * time.Second
	defaultStaleMaxAge    = 24 * time.Hour
	defaultPauseTimeout   = 5 * time.Second
	defaultMaxHeaderBytes = 4096
	maxJWKSBytes          = 1 << 20
)

// errConfig marks every configuration error, so the plugin start fails with one clear message.
var errConfig = errors.New("invalid gatewarden configuration")

// Default actions for requests no rule matches.
const (
	defaultDeny         = "deny"
	defaultAuthenticate = "authenticate"
	defaultAllow        = "allow"
)

// config is the validated plugin configuration. It is immutable once parsed; per-VM state
// (keys, fetches) lives in keyState.
type config struct {
	realm        string
	providers    []*provider
	byName       map[string]*provider
	sources      []tokenSource
	rules        []*rule
	defaultRule  *rule // applies when no rule matches (nil: deny)
	corsBypass   bool
	forward      bool
	cacheEntries int
	cacheTTL     time.Duration

	clientIDHeader string
	userIDHeader   string
	rolesHeader    string
	payloadHeader  string
	claimHeaders   []claimHeader
	maxHeaderBytes int
	// injected lists every header the filter may set; all are stripped from incoming requests.
	injected []string
}

// provider is one trusted issuer: how to verify its tokens and where its keys come from.
type provider struct {
	name     string
	issuers  []string
	verifier *jwt.Verifier

	// inline keys, or remote ones fetched through upstream.
	inline       *jwt.KeySet
	jwksURL      *url.URL // nil with discovery until the discovery document named it
	discovery    *url.URL // "<issuer>/.well-known/openid-configuration" when discovery is on
	upstream     string
	authority    string
	refresh      time.Duration
	fetchTimeout time.Duration
	kidCooldown  time.Duration
	staleMaxAge  time.Duration
	pauseTimeout time.Duration
}

// remote reports whether the provider's keys are fetched through HTTP calls.
func (p *provider) remote() bool { return p.inline == nil }

// tokenSource is one place a token may be found.
type tokenSource struct {
	header, prefix string // header name (lower case) and the scheme prefix, compared case-insensitively
	query          string
	cookie         string
}

// claimHeader copies a claim into a request header.
type claimHeader struct {
	claim, header, separator string
	json                     bool
}

// parseConfig reads the plugin configuration JSON. Every error quotes the offending value and
// says what to write instead; a bad configuration must fail the plugin start.
func parseConfig(data []byte) (*config, error) {
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%w: the plugin configuration is not valid JSON; pass a JSON object like {\"providers\":[...]}", errConfig)
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, fmt.Errorf("%w: the plugin configuration must be a JSON object, got %s", errConfig, clip(root.Raw))
	}
	if err := checkKeys(root, "", "realm", "providers", "rules", "default_action", "token_sources",
		"bypass_cors_preflight", "forward", "client_id_header", "user_id_header", "roles_header",
		"payload_header", "claims_to_headers", "max_header_bytes", "cache"); err != nil {
		return nil, err
	}
	c := &config{byName: map[string]*provider{}}
	var err error
	if c.realm, err = optString(root, "realm", defaultRealm); err != nil {
		return nil, err
	}
	if strings.ContainsAny(c.realm, "\"\\\r\n") {
		return nil, fmt.Errorf("%w: realm %q must not contain quotes, backslashes or line breaks", errConfig, c.realm)
	}
	if c.corsBypass, err = optBool(root, "bypass_cors_preflight", "bypass_cors_preflight", false); err != nil {
		return nil, err
	}
	if c.forward, err = optBool(root, "forward", "forward", true); err != nil {
		return nil, err
	}
	if err := c.parseOutputs(root); err != nil {
		return nil, err
	}
	if err := c.parseCache(root.Get("cache")); err != nil {
		return nil, err
	}
	if c.sources, err = parseSources(root.Get("token_sources")); err != nil {
		return nil, err
	}

	ps := root.Get("providers")
	if !ps.IsArray() || len(ps.Array()) == 0 {
		return nil, fmt.Errorf("%w: \"providers\" must be a non-empty array of issuers to trust, e.g. [{\"name\":\"keycloak\",\"issuer\":\"https://sso.example.com/realms/main\",\"discovery\":true,\"upstream\":\"keycloak\"}]", errConfig)
	}
	for i, p := range ps.Array() {
		prov, err := parseProvider(p, i)
		if err != nil {
			return nil, err
		}
		if c.byName[prov.name] != nil {
			return nil, fmt.Errorf("%w: providers[%d].name %q is used twice; give each provider its own name", errConfig, i, prov.name)
		}
		c.byName[prov.name] = prov
		c.providers = append(c.providers, prov)
	}

	if err := c.parseRules(root); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) parseOutputs(root gjson.Result) error {
	var err error
	if c.clientIDHeader, err = headerName(root, "client_id_header", defaultClientIDHeader, true, true); err != nil {
		return err
	}
	if c.userIDHeader, err = headerName(root, "user_id_header", defaultUserIDHeader, true, true); err != nil {
		return err
	}
	if c.rolesHeader, err = headerName(root, "roles_header", defaultRolesHeader, true, true); err != nil {
		return err
	}
	if c.payloadHeader, err = headerName(root, "payload_header", "", true, true); err != nil {
		return err
	}
	c.maxHeaderBytes = defaultMaxHeaderBytes
	if v := root.Get("max_header_bytes"); v.Exists() {
		n, ok := wholeNumber(v)
		if !ok || n < 16 || n > 65536 {
			return fmt.Errorf("%w: max_header_bytes %s must be a whole number from 16 to 65536", errConfig, clip(v.Raw))
		}
		c.maxHeaderBytes = int(n)
	}
	for _, h := range []string{c.clientIDHeader, c.userIDHeader, c.rolesHeader, c.payloadHeader} {
		if h != "" {
			c.injected = append(c.injected, h)
		}
	}
	ch := root.Get("claims_to_headers")
	if ch.Exists() && !ch.IsArray() {
		return fmt.Errorf("%w: claims_to_headers must be an array like [{\"claim\":\"email\",\"header\":\"x-user-email\"}], got %s", errConfig, clip(ch.Raw))
	}
	for i, e := range ch.Array() {
		at := fmt.Sprintf("claims_to_headers[%d].", i)
		if err := checkKeys(e, at, "claim", "header", "separator", "format"); err != nil {
			return err
		}
		claim, err := optString(e, "claim", "")
		if err != nil || claim == "" {
			return fmt.Errorf("%w: %sclaim must name a claim path like \"realm_access.roles\"", errConfig, at)
		}
		header, err := headerName(e, "header", "", false, true)
		if err != nil {
			return within(at, err)
		}
		sep, err := optString(e, "separator", ",")
		if err != nil {
			return err
		}
		if strings.ContainsAny(sep, "\r\n\x00") {
			return fmt.Errorf("%w: %sseparator %q must not contain line breaks", errConfig, at, sep)
		}
		format, err := optString(e, "format", "join")
		if err != nil {
			return err
		}
		if format != "join" && format != "json" {
			return fmt.Errorf("%w: %sformat %q must be \"join\" (arrays joined by separator) or \"json\"", errConfig, at, format)
		}
		for _, h := range c.injected {
			if h == header {
				return fmt.Errorf("%w: %sheader %q is already set by the filter; pick another name", errConfig, at, header)
			}
		}
		c.claimHeaders = append(c.claimHeaders, claimHeader{claim: claim, header: header, separator: sep, json: format == "json"})
		c.injected = append(c.injected, header)
	}
	return nil
}

func (c *config) parseCache(cache gjson.Result) error {
	c.cacheEntries, c.cacheTTL = defaultCacheEntries, defaultCacheTTL
	if !cache.Exists() {
		return nil
	}
	if err := checkKeys(cache, "cache.", "max_entries", "ttl"); err != nil {
		return err
	}
	if v := cache.Get("max_entries"); v.Exists() {
		n, ok := wholeNumber(v)
		if !ok || n < 0 || n > 10_000_000 {
			return fmt.Errorf("%w: cache.max_entries %s must be a whole number from 0 (cache off) to 10000000", errConfig, clip(v.Raw))
		}
		c.cacheEntries = int(n)
	}
	var err error
	c.cacheTTL, err = optDuration(cache, "ttl", "cache.ttl", defaultCacheTTL)
	return err
}

func parseSources(v gjson.Result) ([]tokenSource, error) {
	if !v.Exists() {
		return []tokenSource{{header: "authorization", prefix: "bearer "}}, nil
	}
	if !v.IsArray() || len(v.Array()) == 0 {
		return nil, fmt.Errorf("%w: token_sources must be a non-empty array like [{\"header\":\"authorization\",\"prefix\":\"Bearer \"},{\"query\":\"access_token\"},{\"cookie\":\"at\"}], got %s", errConfig, clip(v.Raw))
	}
	var out []tokenSource
	for i, e := range v.Array() {
		at := fmt.Sprintf("token_sources[%d].", i)
		if err := checkKeys(e, at, "header", "prefix", "query", "cookie"); err != nil {
			return nil, err
		}
		var s tokenSource
		var err error
		set := 0
		if e.Get("header").Exists() {
			if s.header, err = headerName(e, "header", "", false, false); err != nil {
				return nil, within(at, err)
			}
			if s.prefix, err = optString(e, "prefix", ""); err != nil {
				return nil, err
			}
			s.prefix = strings.ToLower(s.prefix)
			set++
		}
		if e.Get("query").Exists() {
			if s.query, err = optString(e, "query", ""); err != nil || s.query == "" {
				return nil, fmt.Errorf("%w: %squery must name a query parameter like \"access_token\"", errConfig, at)
			}
			set++
		}
		if e.Get("cookie").Exists() {
			if s.cookie, err = optString(e, "cookie", ""); err != nil || s.cookie == "" {
				return nil, fmt.Errorf("%w: %scookie must name a cookie", errConfig, at)
			}
			set++
		}
		if set != 1 {
			return nil, fmt.Errorf("%w: %s must set exactly one of header, query or cookie", errConfig, at[:len(at)-1])
		}
		if s.prefix != "" && s.header == "" {
			return nil, fmt.Errorf("%w: %sprefix goes with header only", errConfig, at)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseProvider(p gjson.Result, i int) (*provider, error) {
	at := fmt.Sprintf("providers[%d].", i)
	if !p.IsObject() {
		return nil, fmt.Errorf("%w: %s must be an object, got %s", errConfig, at[:len(at)-1], clip(p.Raw))
	}
	if err := checkKeys(p, at, "name", "issuer", "issuer_aliases", "audiences", "algorithms",
		"jwks", "jwks_uri", "discovery", "upstream", "authority", "refresh_interval", "fetch_timeout",
		"kid_refetch_cooldown", "stale_max_age", "pause_timeout",
		"clock_skew", "max_lifetime", "token_types", "allow_missing_exp"); err != nil {
		return nil, err
	}
	issuer, err := optString(p, "issuer", "")
	if err != nil {
		return nil, err
	}
	if issuer == "" {
		return nil, fmt.Errorf("%w: %sissuer is required: the exact \"iss\" of the tokens, e.g. \"https://sso.example.com/realms/main\"", errConfig, at)
	}
	name, err := optString(p, "name", issuer)
	if err != nil {
		return nil, err
	}
	aliases, err := optStrings(p, at, "issuer_aliases")
	if err != nil {
		return nil, err
	}
	audiences, err := optStrings(p, at, "audiences")
	if err != nil {
		return nil, err
	}
	algs, err := optStrings(p, at, "algorithms")
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		algs = []string{"RS256", "ES256"}
	}
	types, err := optStrings(p, at, "token_types")
	if err != nil {
		return nil, err
	}
	durations := []struct {
		key string
		dst *time.Duration
		def time.Duration
	}{
		{"clock_skew", new(time.Duration), defaultClockSkew},
		{"max_lifetime", new(time.Duration), 0},
		{"refresh_interval", new(time.Duration), defaultRefresh},
		{"fetch_timeout", new(time.Duration), defaultFetchTimeout},
		{"kid_refetch_cooldown", new(time.Duration), defaultKidCooldown},
		{"stale_max_age", new(time.Duration), defaultStaleMaxAge},
		{"pause_timeout", new(time.Duration), defaultPauseTimeout},
	}
	for _, d := range durations {
		if *d.dst, err = optDuration(p, d.key, at+d.key, d.def); err != nil {
			return nil, err
		}
	}
	allowMissingExp, err := optBool(p, "allow_missing_exp", at+"allow_missing_exp", false)
	if err != nil {
		return nil, err
	}
	verifier, err := jwt.NewVerifier(jwt.Options{
		Algorithms:             algs,
		Issuers:                append([]string{issuer}, aliases...),
		Audiences:              audiences,
		TokenTypes:             types,
		ClockSkew:              *durations[0].dst,
		MaxLifetime:            *durations[1].dst,
		AllowMissingExpiration: allowMissingExp,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errConfig, at[:len(at)-1], err)
	}
	prov := &provider{
		name: name, issuers: append([]string{issuer}, aliases...), verifier: verifier,
		refresh:      *durations[2].dst,
		fetchTimeout: *durations[3].dst,
		kidCooldown:  *durations[4].dst,
		staleMaxAge:  *durations[5].dst,
		pauseTimeout: *durations[6].dst,
	}
	if prov.refresh < time.Second || prov.fetchTimeout < 10*time.Millisecond || prov.pauseTimeout < 10*time.Millisecond {
		return nil, fmt.Errorf("%w: %srefresh_interval must be at least 1s, fetch_timeout and pause_timeout at least 10ms", errConfig, at)
	}
	if err := prov.parseKeySource(p, at, issuer); err != nil {
		return nil, err
	}
	return prov, nil
}

// parseKeySource reads exactly one of jwks (inline), jwks_uri or discovery, and the upstream
// the remote ones are fetched through.
func (prov *provider) parseKeySource(p gjson.Result, at, issuer string) error {
	jwks, uri, disc := p.Get("jwks"), p.Get("jwks_uri"), p.Get("discovery")
	set := 0
	for _, v := range []gjson.Result{jwks, uri} {
		if v.Exists() {
			set++
		}
	}
	discovery, err := optBool(p, "discovery", at+"discovery", false)
	if err != nil {
		return err
	}
	if discovery {
		set++
	}
	if set != 1 {
		return fmt.Errorf("%w: %s needs exactly one key source: \"jwks\" (inline JWKS), \"jwks_uri\" (fetched through \"upstream\") or \"discovery\": true (jwks_uri read from the issuer's /.well-known/openid-configuration)", errConfig, at[:len(at)-1])
	}
	if jwks.Exists() {
		switch {
		case jwks.Type == gjson.String:
			prov.inline, err = jwt.ParseJWKS([]byte(jwks.Str))
		case jwks.IsObject():
			prov.inline, err = jwt.ParseJWKS([]byte(jwks.Raw))
		default:
			return fmt.Errorf("%w: %sjwks must be a JWKS object {\"keys\":[...]} or a string holding one, got %s", errConfig, at, clip(jwks.Raw))
		}
		if err != nil {
			return fmt.Errorf("%w: %sjwks: %v", errConfig, at, err)
		}
		for _, k := range []string{"upstream", "authority"} {
			if p.Get(k).Exists() {
				return fmt.Errorf("%w: %s%s is only used with jwks_uri or discovery", errConfig, at, k)
			}
		}
		return nil
	}
	_ = disc
	if uri.Exists() {
		s, err := optString(p, "jwks_uri", "")
		if err != nil {
			return err
		}
		if prov.jwksURL, err = httpURL(s); err != nil {
			return fmt.Errorf("%w: %sjwks_uri %q: %v", errConfig, at, s, err)
		}
	} else {
		u, err := httpURL(strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration")
		if err != nil {
			return fmt.Errorf("%w: %sdiscovery needs an http(s) issuer URL, got %q", errConfig, at, issuer)
		}
		prov.discovery = u
	}
	if prov.upstream, err = optString(p, "upstream", ""); err != nil {
		return err
	}
	if prov.upstream == "" {
		return fmt.Errorf("%w: %supstream is required with jwks_uri or discovery: the host's name for the key server (an Envoy cluster name, or an upstream of the Go gateway)", errConfig, at)
	}
	if prov.authority, err = optString(p, "authority", ""); err != nil {
		return err
	}
	return nil
}

func httpURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("want an absolute http:// or https:// URL")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// within prefixes a configuration error about a field with where that field sits.
func within(at string, err error) error {
	return fmt.Errorf("%w: %s%s", errConfig, at, strings.TrimPrefix(err.Error(), errConfig.Error()+": "))
}

// checkKeys rejects unknown fields, so a typo never silently weakens the policy.
func checkKeys(obj gjson.Result, at string, allowed ...string) error {
	if !obj.IsObject() {
		return fmt.Errorf("%w: %s must be an object, got %s", errConfig, strings.TrimSuffix(at, "."), clip(obj.Raw))
	}
	var err error
	obj.ForEach(func(k, _ gjson.Result) bool {
		for _, a := range allowed {
			if k.Str == a {
				return true
			}
		}
		err = fmt.Errorf("%w: unknown field %q; known fields here: %s", errConfig, at+k.Str, strings.Join(allowed, ", "))
		return false
	})
	return err
}

func optString(obj gjson.Result, key, def string) (string, error) {
	v := obj.Get(gjsonEscape(key))
	if !v.Exists() {
		return def, nil
	}
	if v.Type != gjson.String {
		return "", fmt.Errorf("%w: %q must be a string, got %s", errConfig, key, clip(v.Raw))
	}
	return v.Str, nil
}

func optBool(obj gjson.Result, key, name string, def bool) (bool, error) {
	v := obj.Get(key)
	if !v.Exists() {
		return def, nil
	}
	if !v.IsBool() {
		return false, fmt.Errorf("%w: %s must be true or false, got %s", errConfig, name, clip(v.Raw))
	}
	return v.Bool(), nil
}

func optStrings(obj gjson.Result, at, key string) ([]string, error) {
	v := obj.Get(key)
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, fmt.Errorf("%w: %s%s must be an array of strings, got %s", errConfig, at, key, clip(v.Raw))
	}
	var out []string
	for _, e := range v.Array() {
		if e.Type != gjson.String || e.Str == "" {
			return nil, fmt.Errorf("%w: %s%s must hold non-empty strings, got %s", errConfig, at, key, clip(e.Raw))
		}
		out = append(out, e.Str)
	}
	return out, nil
}

func wholeNumber(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || v.Num != float64(int64(v.Num)) {
		return 0, false
	}
	return int64(v.Num), true
}

// optDuration accepts a Go duration string ("30s", "5m") or a number of seconds.
func optDuration(obj gjson.Result, key, name string, def time.Duration) (time.Duration, error) {
	v := obj.Get(key)
	if !v.Exists() {
		return def, nil
	}
	var d time.Duration
	switch v.Type {
	case gjson.Number:
		if v.Num > 1e9 || v.Num < 0 {
			return 0, fmt.Errorf("%w: %s %s is out of range; write e.g. \"30s\"", errConfig, name, v.Raw)
		}
		d = time.Duration(v.Num * float64(time.Second))
	case gjson.String:
		var err error
		if d, err = time.ParseDuration(v.Str); err != nil {
			return 0, fmt.Errorf("%w: %s %q is not a duration; write e.g. \"30s\" or \"5m\"", errConfig, name, v.Str)
		}
	default:
		return 0, fmt.Errorf("%w: %s must be a duration like \"30s\" or a number of seconds, got %s", errConfig, name, clip(v.Raw))
	}
	if d < 0 {
		return 0, fmt.Errorf("%w: %s %s must not be negative", errConfig, name, v.Raw)
	}
	return d, nil
}

var headerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$%&'*+.^_` + "`" + `|~-]*$`)

// headerName reads a header name; empty is allowed (and means "off") only when def is "" and
// optional is true.
// Output headers (output true) may not overwrite the credentials or routing headers.
func headerName(obj gjson.Result, key, def string, optional, output bool) (string, error) {
	h, err := optString(obj, key, def)
	if err != nil {
		return "", err
	}
	h = strings.ToLower(h)
	if h == "" && optional {
		return "", nil
	}
	example := def
	if example == "" {
		example = "x-user-email"
	}
	if !headerNameRE.MatchString(h) {
		return "", fmt.Errorf("%w: %s %q is not a usable header name; use letters, digits and '-', e.g. %q", errConfig, key, h, example)
	}
	if output && (h == "authorization" || h == "host" || h == "cookie" || h == "proxy-authorization") {
		return "", fmt.Errorf("%w: %s %q is reserved: the filter never writes credential or routing headers; pick another name, e.g. %q", errConfig, key, h, example)
	}
	return h, nil
}

// gjsonEscape escapes gjson's path characters in a plain object key.
func gjsonEscape(key string) string {
	if !strings.ContainsAny(key, ".*?|#@\\!=<>%") {
		return key
	}
	var b strings.Builder
	for _, r := range key {
		if strings.ContainsRune(".*?|#@\\!=<>%", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clip shortens raw JSON quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
