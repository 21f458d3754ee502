package jwt

import (
	"errors"
	"math/bits"
	"runtime"
	"unicode/utf8"
	"unsafe"
)

// maxJSONDepth bounds nesting in headers, payloads and JWKS (nested JSON bombs).
const maxJSONDepth = 32

var (
	errJSONSyntax = errors.New("invalid JSON")
	errJSONDepth  = errors.New("JSON nested too deeply")
	errJSONDup    = errors.New("duplicate JSON object key")
	errJSONObject = errors.New("JSON value is not an object")
)

// checkJSONObject validates that data is exactly one JSON object (RFC 8259, UTF-8)
// with no duplicate keys in any object, nested at most maxJSONDepth deep. gjson
// neither rejects duplicates nor fully validates, and a duplicate "iss" or "exp" is a
// classic parser-differential attack, so untrusted JSON passes through here first.
func checkJSONObject(data []byte) error {
	return scanJSONObject(data, nil)
}

// scanJSONObject is checkJSONObject that also calls member for every top-level
// member with its decoded key and raw value, in document order; a non-nil error
// from member stops the scan and is returned. key aliases data: copy it to keep it.
// Validation and extraction in one pass keeps the verify path to a single walk.
func scanJSONObject(data []byte, member func(key string, raw []byte) error) error {
	var keyBuf [48]keyRef // typical tokens fit: no allocation for the duplicate check
	ks := keyStack{refs: keyBuf[:0]}
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
	s := jsonScanner{data: data, member: cb}
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

// keyRef locates an object key (its raw body, without quotes) in the scanned data;
// esc is set when the body has escapes (then it must be decoded to be compared).
type keyRef struct {
	start, end int32
	esc        bool
}

// keyStack holds the keys of the objects being scanned, for duplicate checks. It is
// kept outside jsonScanner and holds offsets, not strings, so escape analysis can
// keep its buffer on the stack.
type keyStack struct{ refs []keyRef }

// push appends r. It reslices in place or copies into a new array, never append
// through the pointer: that would make escape analysis move the stack buffer.
func (ks *keyStack) push(r keyRef) {
	n := len(ks.refs)
	if n == cap(ks.refs) {
		ks.refs = grownKeys(ks.refs)
	}
	ks.refs = ks.refs[:n+1]
	ks.refs[n] = r
}

func grownKeys(old []keyRef) []keyRef {
	refs := make([]keyRef, len(old), 2*cap(old)+16)
	copy(refs, old)
	return refs
}

// keyString returns the decoded key at r (aliasing data when it has no escapes).
func (s *jsonScanner) keyString(r keyRef) string {
	if r.esc {
		return unescapeJSON(s.data[r.start:r.end])
	}
	if r.start == r.end {
		return ""
	}
	return unsafe.String(&s.data[r.start], int(r.end-r.start))
}

type jsonScanner struct {
	data   []byte
	pos    int
	esc    bool // the last string decoded by str(true) had escapes
	member func(kStart, kEnd, vStart, vEnd int) error
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) value(depth int, ks *keyStack) error {
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

func (s *jsonScanner) lit(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return errJSONSyntax
	}
	s.pos += len(word)
	return nil
}

func (s *jsonScanner) object(depth int, ks *keyStack) error {
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
			ks.push(keyRef{int32(kStart + 1), int32(kEnd - 1), s.esc})
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

func (s *jsonScanner) array(depth int, ks *keyStack) error {
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
func (s *jsonScanner) str(decode bool) (string, error) {
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

func (s *jsonScanner) number() error {
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

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescapeJSON decodes the escapes of an already validated JSON string body.
// Unpaired surrogates become U+FFFD, as in encoding/json.
func unescapeJSON(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(raw[i+2:]))
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				r2 := rune(hex4(raw[i+2:]))
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					i += 6
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) int {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// jsonString returns the value of a raw JSON string (already validated). Without
// escapes it aliases raw, which callers keep immutable.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' {
			return unescapeJSON(body), true
		}
	}
	if len(body) == 0 {
		return "", true
	}
	return unsafe.String(&body[0], len(body)), true
}

// load64 reads 8 bytes at i (the caller checked bounds) in native byte order; the
// SWAR tests using it do not depend on byte order. Architectures known to allow
// unaligned loads get one load instead of eight.
func load64(b []byte, i int) uint64 {
	switch runtime.GOARCH {
	case "wasm", "amd64", "arm64", "386":
		return *(*uint64)(unsafe.Pointer(&b[i]))
	}
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

// plain8 reports whether none of the 8 bytes in x is '"', '\\', < 0x20 or >= 0x80
// (SWAR: a byte-wise "has zero byte" test on shifted copies).
func plain8(x uint64) bool { return special8(x) == 0 }

// special8 flags (bit 7 of the byte) the bytes of x that are '"', '\\', < 0x20 or
// >= 0x80. Bytes above the first flagged one may be flagged wrongly (borrows), the
// lowest flag is exact.
func special8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - lo) & ^v & hi }
	return hasZero(x^(lo*'"')) | hasZero(x^(lo*'\\')) | (x-lo*0x20)&^x&hi | x&hi
}
