package jwt

// The strict JSON scanner, claims reader and header reader as they were before the
// single-pass rewrite, kept as the reference for differential tests (json_diff_test.go).

import (
	"math/bits"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// refScanJSONObject is checkJSONObject that also calls member for every top-level
// member with its decoded key and raw value, in document order; a non-nil error
// from member stops the scan and is returned. key aliases data: copy it to keep it.
// Validation and extraction in one pass keeps the verify path to a single walk.
func refScanJSONObject(data []byte, member func(key string, raw []byte) error) error {
	var keyBuf [48]refKeyRef // typical tokens fit: no allocation for the duplicate check
	ks := refKeyStack{refs: keyBuf[:0]}
	var cb func(kStart, kEnd, vStart, vEnd int) error
	if member != nil {
		// The scanner reports offsets only, so escape analysis does not see data
		// flowing into an unknown function through the scanner (which would move
		// keyBuf to the heap).
		cb = func(kStart, kEnd, vStart, vEnd int) error {
			k, _ := jsonString(data[kStart:kEnd])
			return member(k, data[vStart:vEnd])
		}
	}
	s := refScanner{data: data, member: cb}
	s.ws()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return errJSONObject
	}
	if err := s.value(0, &ks); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(data) {
		return errJSONSyntax
	}
	return nil
}

// refKeyRef locates an object key (its raw body, without quotes) in the scanned data;
// esc is set when the body has escapes (then it must be decoded to be compared).
type refKeyRef struct {
	start, end int32
	esc        bool
}

// refKeyStack holds the keys of the objects being scanned, for duplicate checks. It is
// kept outside refScanner and holds offsets, not strings, so escape analysis can
// keep its buffer on the stack.
type refKeyStack struct{ refs []refKeyRef }

// push appends r. It reslices in place or copies into a new array, never append
// through the pointer: that would make escape analysis move the stack buffer.
func (ks *refKeyStack) push(r refKeyRef) {
	n := len(ks.refs)
	if n == cap(ks.refs) {
		ks.refs = refGrownKeys(ks.refs)
	}
	ks.refs = ks.refs[:n+1]
	ks.refs[n] = r
}

func refGrownKeys(old []refKeyRef) []refKeyRef {
	refs := make([]refKeyRef, len(old), 2*cap(old)+16)
	copy(refs, old)
	return refs
}

// keyString returns the decoded key at r (aliasing data when it has no escapes).
func (s *refScanner) keyString(r refKeyRef) string {
	if r.esc {
		return unescapeJSON(s.data[r.start:r.end])
	}
	if r.start == r.end {
		return ""
	}
	return unsafe.String(&s.data[r.start], int(r.end-r.start))
}

type refScanner struct {
	data   []byte
	pos    int
	esc    bool // the last string decoded by str(true) had escapes
	member func(kStart, kEnd, vStart, vEnd int) error
}

func (s *refScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *refScanner) value(depth int, ks *refKeyStack) error {
	if s.pos >= len(s.data) {
		return errJSONSyntax
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth+1, ks)
	case c == '[':
		return s.array(depth+1, ks)
	case c == '"':
		_, err := s.str(false)
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return errJSONSyntax
}

func (s *refScanner) lit(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return errJSONSyntax
	}
	s.pos += len(word)
	return nil
}

func (s *refScanner) object(depth int, ks *refKeyStack) error {
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	s.pos++ // '{'
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	base := len(ks.refs)
	var big map[string]struct{}
	// This object's keys are popped from ks on the closing brace. Error returns leave
	// them: an error ends the whole scan, and ks with it (no defer: costly in wasm).
	for {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return errJSONSyntax
		}
		kStart := s.pos
		k, err := s.str(true)
		if err != nil {
			return err
		}
		kEnd := s.pos
		if big != nil {
			if _, dup := big[k]; dup {
				return errJSONDup
			}
			big[k] = struct{}{}
		} else {
			// Unescaped keys compare as raw bytes (length first, no decoding): most
			// keys of a token never need the decoded form.
			for _, prev := range ks.refs[base:] {
				if !prev.esc && int(prev.end-prev.start) != len(k) {
					continue
				}
				if s.keyString(prev) == k {
					return errJSONDup
				}
			}
			ks.push(refKeyRef{int32(kStart + 1), int32(kEnd - 1), s.esc})
			if len(ks.refs)-base > 32 {
				big = make(map[string]struct{}, 64)
				for _, p := range ks.refs[base:] {
					big[s.keyString(p)] = struct{}{}
				}
			}
		}
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return errJSONSyntax
		}
		s.pos++
		s.ws()
		start := s.pos
		if err := s.value(depth, ks); err != nil {
			return err
		}
		if depth == 1 && s.member != nil {
			if err := s.member(kStart, kEnd, start, s.pos); err != nil {
				return err
			}
		}
		s.ws()
		if s.pos >= len(s.data) {
			return errJSONSyntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			ks.refs = ks.refs[:base]
			return nil
		default:
			return errJSONSyntax
		}
	}
}

func (s *refScanner) array(depth int, ks *refKeyStack) error {
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	s.pos++ // '['
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth, ks); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.data) {
			return errJSONSyntax
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// str scans a string starting at '"'. With decode it returns the decoded value
// (used for object keys, so "a" and "\u0061" count as duplicates).
func (s *refScanner) str(decode bool) (string, error) {
	s.pos++ // opening quote
	start := s.pos
	escaped := false
	for s.pos < len(s.data) {
		// Skip eight plain bytes at once (no quote, backslash, control or non-ASCII
		// byte): loops are expensive in Go's wasm output, strings are most of a token.
		// When a special byte is among the eight, jump straight to the first one
		// (load64 is little-endian on every architecture, so the lowest flagged bit
		// is the first special byte in memory).
		if s.pos+8 <= len(s.data) {
			m := special8(load64(s.data, s.pos))
			if m == 0 {
				s.pos += 8
				continue
			}
			s.pos += bits.TrailingZeros64(m) >> 3
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if !decode {
				return "", nil
			}
			s.esc = escaped
			if !escaped {
				// Alias the input: keys only live while data is being scanned and data
				// is never modified meanwhile; this keeps the scan allocation-free.
				if len(raw) == 0 {
					return "", nil
				}
				return unsafe.String(&raw[0], len(raw)), nil
			}
			return unescapeJSON(raw), nil
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				return "", errJSONSyntax
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) {
					return "", errJSONSyntax
				}
				for _, h := range s.data[s.pos+2 : s.pos+6] {
					if hexVal(h) < 0 {
						return "", errJSONSyntax
					}
				}
				s.pos += 6
			default:
				return "", errJSONSyntax
			}
		case c < 0x20:
			return "", errJSONSyntax
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", errJSONSyntax
			}
			s.pos += size
		}
	}
	return "", errJSONSyntax
}

func (s *refScanner) number() error {
	d := s.data
	p := s.pos
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case p < len(d) && d[p] >= '1' && d[p] <= '9':
		for p < len(d) && d[p] >= '0' && d[p] <= '9' {
			p++
		}
	default:
		return errJSONSyntax
	}
	if p < len(d) && d[p] == '.' {
		p++
		q := p
		for p < len(d) && d[p] >= '0' && d[p] <= '9' {
			p++
		}
		if p == q {
			return errJSONSyntax
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		q := p
		for p < len(d) && d[p] >= '0' && d[p] <= '9' {
			p++
		}
		if p == q {
			return errJSONSyntax
		}
	}
	s.pos = p
	return nil
}

// refParseClaims validates the payload (one JSON object, no duplicate keys) and reads
// the registered claims, checking their JSON types.
func refParseClaims(payload []byte) (*Claims, error) {
	c := &Claims{raw: payload}
	str := func(name string, raw []byte, dst *string) error {
		v, ok := jsonString(raw)
		if !ok {
			return wrap(ErrMalformed, "claim "+name+" is not a string")
		}
		*dst = v
		return nil
	}
	date := func(name string, raw []byte, dst *time.Time) error {
		t, ok := numericDate(raw)
		if !ok {
			return wrap(ErrMalformed, "claim "+name+" is not a NumericDate (a number of seconds)")
		}
		*dst = t
		return nil
	}
	err := refScanJSONObject(payload, func(k string, raw []byte) error {
		switch k {
		case "iss":
			return str("iss", raw, &c.Issuer)
		case "sub":
			return str("sub", raw, &c.Subject)
		case "azp":
			return str("azp", raw, &c.AuthorizedParty)
		case "typ":
			return str("typ", raw, &c.Type)
		case "exp":
			return date("exp", raw, &c.ExpiresAt)
		case "nbf":
			return date("nbf", raw, &c.NotBefore)
		case "iat":
			return date("iat", raw, &c.IssuedAt)
		case "aud":
			if v, ok := jsonString(raw); ok {
				c.Audience = []string{v}
				return nil
			}
			if raw[0] != '[' {
				return wrap(ErrMalformed, "claim aud is neither a string nor an array of strings")
			}
			if aud, ok := audStrings(raw, nil); ok {
				c.Audience = aud
				return nil
			}
			var err error
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
		return nil
	})
	if err != nil {
		if _, ok := err.(*detailError); ok {
			return nil, err
		}
		return nil, wrap(ErrMalformed, "payload: "+err.Error())
	}
	return c, nil
}

// refParseHeader reads alg, kid and typ and rejects what we cannot honour. Key material
// the token carries (jwk, jku, x5u, x5c, x5t) is ignored: keys only come from the KeySet.
func refParseHeader(data []byte) (Header, error) {
	var h Header
	hasAlg := false
	str := func(name string, raw []byte, dst *string) error {
		v, ok := jsonString(raw)
		if !ok {
			return wrap(ErrMalformed, "header "+name+" is not a string")
		}
		*dst = v
		return nil
	}
	err := refScanJSONObject(data, func(k string, raw []byte) error {
		switch k {
		case "alg":
			hasAlg = true
			return str("alg", raw, &h.Alg)
		case "kid":
			return str("kid", raw, &h.Kid)
		case "typ":
			return str("typ", raw, &h.Typ)
		case "crit":
			return wrap(ErrCrit, "header crit names extensions this verifier does not support")
		case "b64":
			if string(raw) != "true" {
				return wrap(ErrCrit, "header b64 must be absent or true (RFC 7797 unencoded payloads are refused)")
			}
		case "zip":
			return wrap(ErrMalformed, "header zip is not allowed in a JWS")
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*detailError); ok {
			return h, err
		}
		return h, wrap(ErrMalformed, "header: "+err.Error())
	}
	if !hasAlg {
		return h, wrap(ErrMalformed, "header has no alg")
	}
	return h, nil
}
