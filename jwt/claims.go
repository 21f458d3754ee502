package jwt

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
)

// NumericDate bounds (RFC 7519 section 2): 0 .. 9999-12-31T23:59:59Z. Anything outside
// is rejected as malformed rather than risking overflow in time arithmetic.
const maxNumericDate = 253402300799

// Claims holds the registered claims of a verified token and its raw payload for
// lookups by path. Treat it as read-only.
type Claims struct {
	Issuer          string // iss
	Subject         string // sub
	AuthorizedParty string // azp (Keycloak: the client app id)
	Type            string // typ (Keycloak: Bearer, Refresh, Offline, ID, ...)
	Audience        []string
	ExpiresAt       time.Time // zero when absent
	NotBefore       time.Time // zero when absent
	IssuedAt        time.Time // zero when absent

	raw []byte
}

// Fingerprints (keyFP) of the registered claim names and the JOSE header parameters
// the readers look at; TestKeyFPConstants checks them against keyFP.
const (
	fpIss  = 3<<56 | 's'<<16 | 's'<<8 | 'i'
	fpSub  = 3<<56 | 'b'<<16 | 'u'<<8 | 's'
	fpAzp  = 3<<56 | 'p'<<16 | 'z'<<8 | 'a'
	fpTyp  = 3<<56 | 'p'<<16 | 'y'<<8 | 't'
	fpExp  = 3<<56 | 'p'<<16 | 'x'<<8 | 'e'
	fpNbf  = 3<<56 | 'f'<<16 | 'b'<<8 | 'n'
	fpIat  = 3<<56 | 't'<<16 | 'a'<<8 | 'i'
	fpAud  = 3<<56 | 'd'<<16 | 'u'<<8 | 'a'
	fpAlg  = 3<<56 | 'g'<<16 | 'l'<<8 | 'a'
	fpKid  = 3<<56 | 'd'<<16 | 'i'<<8 | 'k'
	fpCrit = 4<<56 | 't'<<24 | 'i'<<16 | 'r'<<8 | 'c'
	fpB64  = 3<<56 | '4'<<16 | '6'<<8 | 'b'
	fpZip  = 3<<56 | 'p'<<16 | 'i'<<8 | 'z'
)

// parseClaims validates the payload (one JSON object, no duplicate keys) and reads
// the registered claims, checking their JSON types.
func parseClaims(payload []byte) (*Claims, error) {
	v := new(verified)
	if err := v.claims.parse(payload, v.aud[:0]); err != nil {
		return nil, err
	}
	return &v.claims, nil
}

// verified is a Token with its Claims and room for a short audience list, allocated
// together: one allocation instead of three on the verify path.
type verified struct {
	tok    Token
	claims Claims
	aud    [2]string
}

// parse is parseClaims into c, in the same single pass as the strict scan: the
// registered claims are read as the scanner reports the top-level members. A short
// audience list is stored in audBuf's array (len 0, the capacity is used).
func (c *Claims) parse(payload []byte, audBuf []string) error {
	c.raw = payload
	var keyBuf [48]keyRef // typical tokens fit: no allocation for the duplicate check
	ks := keyStack{refs: keyBuf[:0]}
	s, err := newJSONScanner(payload)
	if err != nil {
		return wrap(ErrMalformed, "payload: "+err.Error())
	}
	var m jsonMember
	for {
		more, err := s.next(&ks, &m)
		if !more {
			if err != nil {
				return wrap(ErrMalformed, "payload: "+err.Error())
			}
			return nil
		}
		raw := payload[m.vStart:m.vEnd]
		var dst *string
		var date *time.Time
		switch m.fp {
		case fpIss:
			dst = &c.Issuer
		case fpSub:
			dst = &c.Subject
		case fpAzp:
			dst = &c.AuthorizedParty
		case fpTyp:
			dst = &c.Type
		case fpExp:
			date = &c.ExpiresAt
		case fpNbf:
			date = &c.NotBefore
		case fpIat:
			date = &c.IssuedAt
		case fpAud:
			if raw[0] == '"' {
				c.Audience = append(audBuf[:0], m.str(payload))
				continue
			}
			if raw[0] != '[' {
				return wrap(ErrMalformed, "claim aud is neither a string nor an array of strings")
			}
			if aud, ok := audStrings(raw, audBuf); ok {
				c.Audience = aud
				continue
			}
			if err := c.audSlow(raw); err != nil {
				return err
			}
			continue
		default:
			continue
		}
		if dst != nil {
			if raw[0] != '"' {
				return wrap(ErrMalformed, "claim "+m.key(payload)+" is not a string")
			}
			*dst = m.str(payload)
			continue
		}
		t, ok := numericDate(raw)
		if !ok {
			return wrap(ErrMalformed, "claim "+m.key(payload)+" is not a NumericDate (a number of seconds)")
		}
		*date = t
	}
}

// audSlow reads an aud array that audStrings does not take (escapes, non-strings).
func (c *Claims) audSlow(raw []byte) error {
	var err error
	c.Audience = nil
	gjson.ParseBytes(raw).ForEach(func(_, a gjson.Result) bool {
		if a.Type != gjson.String {
			err = wrap(ErrMalformed, "claim aud has a non-string element")
			return false
		}
		c.Audience = append(c.Audience, a.Str)
		return true
	})
	return err
}

// audStrings reads a validated JSON array whose elements are all strings without
// escapes, aliasing raw, into buf's array when it has room, else into one
// exactly-sized allocation. Anything else (non-string elements, escapes) gives false
// and is left to the gjson path, which reports errors and decodes escapes exactly as
// before.
func audStrings(raw []byte, buf []string) ([]string, bool) {
	n := 0
	inStr := false
	for _, ch := range raw { // count strings; no escapes means every '"' delimits
		switch {
		case ch == '\\':
			return nil, false
		case ch == '"':
			if !inStr {
				n++
			}
			inStr = !inStr
		}
	}
	if n == 0 {
		return nil, false
	}
	out := buf[:0]
	if n > cap(buf) {
		out = make([]string, 0, n)
	}
	i := 1 // after '['
	for {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
			i++
		}
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(raw) && raw[j] != '"' {
			j++
		}
		if j >= len(raw) {
			return nil, false
		}
		if j == i+1 {
			out = append(out, "")
		} else {
			out = append(out, unsafe.String(&raw[i+1], j-i-1))
		}
		i = j + 1
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
			i++
		}
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i++
		case ']':
			return out, len(out) == n && i == len(raw)-1
		default:
			return nil, false
		}
	}
}

// numericDate parses a JSON number of seconds since the epoch (RFC 7519 NumericDate).
func numericDate(raw []byte) (time.Time, bool) {
	// Fast path: a plain integer of at most 12 digits (every valid date in seconds;
	// leading zeros were refused by the JSON scan). ParseFloat gives the same exact
	// value for these, at several times the cost in wasm.
	if n := len(raw); n > 0 && n <= 12 {
		sec := int64(0)
		for _, ch := range raw {
			if ch < '0' || ch > '9' {
				sec = -1
				break
			}
			sec = sec*10 + int64(ch-'0')
		}
		if sec >= 0 {
			if sec > maxNumericDate {
				return time.Time{}, false
			}
			return time.Unix(sec, 0).UTC(), true
		}
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), true
}

// checkClaims applies the policy: issuer, token type, audience, then time.
func (v *Verifier) checkClaims(c *Claims, now time.Time) error {
	if len(v.issuers) > 0 {
		if c.Issuer == "" {
			return wrap(ErrIssuer, "token has no iss claim")
		}
		if !contains(v.issuers, c.Issuer) {
			return wrap(ErrIssuer, "iss "+quote(c.Issuer)+" is not an accepted issuer")
		}
	}
	if c.Type == "" {
		if !v.allowNoTyp {
			return wrap(ErrTokenType, "token has no typ claim")
		}
	} else {
		ok := false
		for _, t := range v.tokenTypes {
			if strings.EqualFold(t, c.Type) {
				ok = true
				break
			}
		}
		if !ok {
			return wrap(ErrTokenType, "typ "+quote(c.Type)+" is not an accepted token type (want an access token)")
		}
	}
	if len(v.audiences) > 0 {
		ok := false
		for _, a := range c.Audience {
			if contains(v.audiences, a) {
				ok = true
				break
			}
		}
		if !ok {
			return wrap(ErrAudience, "none of the token's audiences is accepted")
		}
	}
	if c.ExpiresAt.IsZero() {
		if !v.allowNoExp {
			return wrap(ErrMissingClaim, "token has no exp claim")
		}
	} else if !now.Before(c.ExpiresAt.Add(v.skew)) {
		return wrap(ErrExpired, "token expired at "+c.ExpiresAt.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(v.skew).Before(c.NotBefore) {
		return wrap(ErrNotYetValid, "token not valid before "+c.NotBefore.Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(v.skew).Before(c.IssuedAt) {
		return wrap(ErrIssuedInFuture, "token issued at "+c.IssuedAt.Format(time.RFC3339)+", in the future")
	}
	if v.maxLifetime > 0 {
		if c.ExpiresAt.IsZero() {
			return wrap(ErrLifetime, "token has no exp, so its lifetime is unbounded")
		}
		from := c.IssuedAt
		if from.IsZero() {
			from = now
		}
		if c.ExpiresAt.Sub(from) > v.maxLifetime {
			return wrap(ErrLifetime, "token lifetime exceeds "+v.maxLifetime.String())
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Raw returns the whole payload JSON. Do not modify it.
func (c *Claims) Raw() []byte { return c.raw }

// JSON returns the raw JSON of the claim at path (see String for the path syntax).
func (c *Claims) JSON(path string) ([]byte, bool) {
	r, ok := c.lookup(path)
	if !ok {
		return nil, false
	}
	return []byte(r.Raw), true
}

// String returns the claim at a dotted path ("realm_access.roles",
// "resource_access.my-app.roles", "groups.0"; `\.` is a literal dot, `\\` a backslash).
// Strings are returned as-is, numbers and booleans as their JSON text; objects,
// arrays and null are not strings.
func (c *Claims) String(path string) (string, bool) {
	r, ok := c.lookup(path)
	if !ok {
		return "", false
	}
	return scalarString(r)
}

// Strings returns the claim at path as a list: a string or other scalar gives one
// element, an array gives its scalar elements (nested arrays/objects and nulls are
// skipped). It returns nil when the claim is absent.
func (c *Claims) Strings(path string) []string {
	r, ok := c.lookup(path)
	if !ok {
		return nil
	}
	if r.IsArray() {
		var out []string
		r.ForEach(func(_, e gjson.Result) bool {
			if s, ok := scalarString(e); ok {
				out = append(out, s)
			}
			return true
		})
		return out
	}
	if s, ok := scalarString(r); ok {
		return []string{s}
	}
	return nil
}

func scalarString(r gjson.Result) (string, bool) {
	switch r.Type {
	case gjson.String:
		return r.Str, true
	case gjson.Number, gjson.True, gjson.False:
		return r.Raw, true
	}
	return "", false
}

// maxPathSegments bounds claim paths (they come from configuration, but stay cheap).
const maxPathSegments = 32

// lookup walks path segment by segment with exact key comparison: no gjson path
// syntax (wildcards, modifiers, queries) is interpreted.
func (c *Claims) lookup(path string) (gjson.Result, bool) {
	if c == nil || path == "" {
		return gjson.Result{}, false
	}
	cur := gjson.ParseBytes(c.raw)
	segs := 0
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = nextSegment(rest)
		if segs++; segs > maxPathSegments {
			return gjson.Result{}, false
		}
		var next gjson.Result
		found := false
		switch {
		case cur.IsObject():
			cur.ForEach(func(k, v gjson.Result) bool {
				if k.Str == seg {
					next, found = v, true
					return false
				}
				return true
			})
		case cur.IsArray():
			idx, ok := arrayIndex(seg)
			if !ok {
				return gjson.Result{}, false
			}
			i := 0
			cur.ForEach(func(_, v gjson.Result) bool {
				if i == idx {
					next, found = v, true
					return false
				}
				i++
				return true
			})
		}
		if !found {
			return gjson.Result{}, false
		}
		cur = next
	}
	return cur, true
}

// nextSegment splits off the first path segment, unescaping `\.` and `\\`.
func nextSegment(path string) (seg, rest string, more bool) {
	if !strings.Contains(path, `\`) {
		if i := strings.IndexByte(path, '.'); i >= 0 {
			return path[:i], path[i+1:], true
		}
		return path, "", false
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch ch := path[i]; {
		case ch == '\\' && i+1 < len(path):
			i++
			b.WriteByte(path[i])
		case ch == '.':
			return b.String(), path[i+1:], true
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), "", false
}

func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 || (len(seg) > 1 && seg[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
		n = n*10 + int(seg[i]-'0')
	}
	return n, true
}
