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
	var keyBuf [48]keyRef
	ks := keyStack{refs: keyBuf[:0]}
	s, err := newJSONScanner(data)
	if err != nil {
		return err
	}
	var m jsonMember
	for {
		more, err := s.next(&ks, &m)
		if !more {
			return err
		}
	}
}

// jsonMember is one top-level member of the object a jsonScanner walks: offsets into
// the data of the raw key body (without quotes) and of the raw value.
type jsonMember struct {
	fp           uint64 // keyFP of the decoded key
	kStart, kEnd int
	vStart, vEnd int
	kEsc         bool // the key has escapes
	vEsc         bool // the value is a string with escapes
}

// key returns the decoded key (aliasing data when it has no escapes).
func (m *jsonMember) key(data []byte) string {
	if m.kEsc {
		return unescapeJSON(data[m.kStart:m.kEnd])
	}
	return aliasString(data[m.kStart:m.kEnd])
}

// str returns the decoded value of a string member (the caller checked
// data[m.vStart] == '"'), aliasing data when it has no escapes.
func (m *jsonMember) str(data []byte) string {
	if m.vEsc {
		return unescapeJSON(data[m.vStart+1 : m.vEnd-1])
	}
	return aliasString(data[m.vStart+1 : m.vEnd-1])
}

func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// keyFP is a fingerprint of a decoded object key: its first 7 bytes (little-endian,
// zero padded) and its length (capped at 255) in the top byte. Keys of at most 7 bytes
// are equal exactly when their fingerprints are; longer keys with equal fingerprints
// still need a full comparison. Registered claim and header names are all short, so
// the readers match them with one integer comparison.
func keyFP(b []byte) uint64 {
	n := len(b)
	var v uint64
	for i := min(n, 7) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v | uint64(min(n, 255))<<56
}

// keyRef locates an object key (its raw body, without quotes) in the scanned data;
// esc is set when the body has escapes (then it must be decoded to be compared).
type keyRef struct {
	fp         uint64
	start, end int32
	esc        bool
}

// keyStack holds the keys of the objects being scanned, for duplicate checks. It is
// kept outside jsonScanner and holds offsets, not strings, so escape analysis can
// keep its buffer on the stack.
type keyStack struct{ refs []keyRef }

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
	return aliasString(s.data[r.start:r.end])
}

// Scanner states between calls of next.
const (
	jsonFirst = iota // after the opening brace
	jsonAfter        // after a member's value
	jsonDone         // the object and the trailing whitespace were consumed
)

// jsonScanner walks one JSON object member by member, validating everything on the
// way (the nested values of a member are validated before the member is returned).
// It is one iterative function, not a recursive descent: in Go's wasm output every
// call and every jump between distant blocks is costly, and this walk is most of the
// non-cryptographic time of a verification.
type jsonScanner struct {
	data  []byte
	pos   int
	state int
	big   []map[string]struct{}       // per depth: key set of an object with many keys
	bases [maxJSONDepth + 1]int32     // per depth: where the object's keys start in the keyStack
	seen  [maxJSONDepth + 1][2]uint64 // per depth: filter of the object's key fingerprints
}

// newJSONScanner checks that data starts with an object (after whitespace).
func newJSONScanner(data []byte) (jsonScanner, error) {
	p := 0
	for p < len(data) && (data[p] == ' ' || data[p] == '\t' || data[p] == '\n' || data[p] == '\r') {
		p++
	}
	if p >= len(data) || data[p] != '{' {
		return jsonScanner{}, errJSONObject
	}
	return jsonScanner{data: data, pos: p + 1}, nil
}

// bigKeys is the threshold above which an object's keys go into a map, so that
// duplicate checks stay linear for hostile inputs.
const bigKeys = 32

// next scans the next top-level member into m and reports true, or reports false at
// the end of the object (err == nil: the whole input is one valid object) or on the
// first error. Keys of all open objects are kept in ks for duplicate checks.
func (s *jsonScanner) next(ks *keyStack, m *jsonMember) (bool, error) {
	data := s.data
	n := len(data)
	pos := s.pos
	var (
		c     byte
		d     = 1    // depth of the innermost open container
		isObj uint64 // bit i: the container at depth i is an object
		inKey bool
		start int
		esc   bool
		x     uint64
		fp    uint64
		kb    []byte
		ks2   string
	)
	switch s.state {
	case jsonFirst:
		pos = skipSpace(data, pos)
		if pos < n && data[pos] == '}' {
			pos++
			goto closed
		}
	case jsonAfter:
		pos = skipSpace(data, pos)
		if pos >= n {
			return false, errJSONSyntax
		}
		if data[pos] == '}' {
			pos++
			goto closed
		}
		if data[pos] != ',' {
			return false, errJSONSyntax
		}
		pos++
	default:
		return false, nil
	}
	isObj = 2 // depth 1 is the top-level object; its keys start at 0

key: // expect a key of the object at depth d
	pos = skipSpace(data, pos)
	if pos >= n || data[pos] != '"' {
		return false, errJSONSyntax
	}
	inKey = true
	goto str

value: // expect a value
	pos = skipSpace(data, pos)
	if pos >= n {
		return false, errJSONSyntax
	}
	c = data[pos]
	switch {
	case c == '"':
		inKey = false
		goto str
	case c == '{':
		if d++; d > maxJSONDepth {
			return false, errJSONDepth
		}
		isObj |= 1 << d
		s.bases[d] = int32(len(ks.refs))
		s.seen[d] = [2]uint64{}
		if s.big != nil {
			s.big[d] = nil
		}
		pos++
		pos = skipSpace(data, pos)
		if pos < n && data[pos] == '}' {
			pos++
			d--
			goto after
		}
		goto key
	case c == '[':
		if d++; d > maxJSONDepth {
			return false, errJSONDepth
		}
		isObj &^= 1 << d
		pos++
		pos = skipSpace(data, pos)
		if pos < n && data[pos] == ']' {
			pos++
			d--
			goto after
		}
		goto value
	case c == 't':
		if n-pos < 4 || data[pos+1] != 'r' || data[pos+2] != 'u' || data[pos+3] != 'e' {
			return false, errJSONSyntax
		}
		pos += 4
		goto after
	case c == 'f':
		if n-pos < 5 || data[pos+1] != 'a' || data[pos+2] != 'l' || data[pos+3] != 's' || data[pos+4] != 'e' {
			return false, errJSONSyntax
		}
		pos += 5
		goto after
	case c == 'n':
		if n-pos < 4 || data[pos+1] != 'u' || data[pos+2] != 'l' || data[pos+3] != 'l' {
			return false, errJSONSyntax
		}
		pos += 4
		goto after
	case c == '-' || c >= '0' && c <= '9':
		if c == '-' {
			pos++
		}
		if pos < n && data[pos] == '0' {
			pos++
		} else if pos < n && data[pos] >= '1' && data[pos] <= '9' {
			pos++
			// Eight bytes at a time while all are digits (dates have ten).
			for pos+8 <= n {
				x = nonDigit8(load64(data, pos))
				if x != 0 {
					pos += bits.TrailingZeros64(x) >> 3
					break
				}
				pos += 8
			}
			for pos < n && data[pos] >= '0' && data[pos] <= '9' {
				pos++
			}
		} else {
			return false, errJSONSyntax
		}
		if pos < n && data[pos] == '.' {
			pos++
			start = pos
			for pos < n && data[pos] >= '0' && data[pos] <= '9' {
				pos++
			}
			if pos == start {
				return false, errJSONSyntax
			}
		}
		if pos < n && (data[pos] == 'e' || data[pos] == 'E') {
			pos++
			if pos < n && (data[pos] == '+' || data[pos] == '-') {
				pos++
			}
			start = pos
			for pos < n && data[pos] >= '0' && data[pos] <= '9' {
				pos++
			}
			if pos == start {
				return false, errJSONSyntax
			}
		}
		goto after
	}
	return false, errJSONSyntax

str: // a string starting at the quote at pos; inKey tells what it is
	pos++
	start = pos
	esc = false
	for {
		// Skip eight plain bytes at once (no quote, backslash, control or non-ASCII
		// byte); when a special byte is among them, jump straight to the first one
		// (load64 is little-endian, so the lowest flag is the first special byte).
		for pos+8 <= n {
			x = special8(load64(data, pos))
			if x != 0 {
				pos += bits.TrailingZeros64(x) >> 3
				break
			}
			pos += 8
		}
		if pos >= n {
			return false, errJSONSyntax
		}
		c = data[pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			esc = true
			if pos+1 >= n {
				return false, errJSONSyntax
			}
			switch data[pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				pos += 2
			case 'u':
				if pos+6 > n || hexVal(data[pos+2])|hexVal(data[pos+3])|hexVal(data[pos+4])|hexVal(data[pos+5]) < 0 {
					return false, errJSONSyntax
				}
				pos += 6
			default:
				return false, errJSONSyntax
			}
		} else if c < 0x20 {
			return false, errJSONSyntax
		} else if c < utf8.RuneSelf {
			pos++
		} else {
			r, size := utf8.DecodeRune(data[pos:])
			if r == utf8.RuneError && size <= 1 {
				return false, errJSONSyntax
			}
			pos += size
		}
	}
	pos++ // closing quote
	if !inKey {
		if d == 1 {
			m.vEsc = esc
		}
		goto after
	}

	// A key: the duplicate check against the keys of its object so far. Unescaped
	// keys are fingerprinted straight from the data; the fingerprint decides for
	// short keys, longer ones (and escaped ones) are compared in full on a match.
	kb = data[start : pos-1]
	if esc {
		ks2 = unescapeJSON(kb)
		fp = keyFP(bytesOf(ks2))
	} else {
		ks2 = ""
		if start+8 <= n {
			fp = load64(data, start)
			if len(kb) < 7 {
				fp &= 1<<(8*uint(len(kb))) - 1
			} else {
				fp &= 1<<56 - 1
			}
			fp |= uint64(min(len(kb), 255)) << 56
		} else {
			fp = keyFP(kb)
		}
	}
	if s.big != nil && s.big[d] != nil {
		if !esc {
			ks2 = aliasString(kb)
		}
		if _, dup := s.big[d][ks2]; dup {
			return false, errJSONDup
		}
		s.big[d][ks2] = struct{}{}
	} else {
		// A 128-bit filter per object (one bit per key, from the fingerprint) skips the
		// comparisons for most keys: only keys whose bit is already set are compared.
		h := (fp * 0x9E3779B97F4A7C15) >> 57
		bit := uint64(1) << (h & 63)
		b := int(s.bases[d])
		if s.seen[d][h>>6]&bit == 0 {
			s.seen[d][h>>6] |= bit
			b = len(ks.refs)
		}
		for _, prev := range ks.refs[b:] {
			if prev.fp != fp {
				continue
			}
			if !esc && !prev.esc && len(kb) < 8 {
				return false, errJSONDup
			}
			if !esc {
				ks2 = aliasString(kb)
			}
			if s.keyString(prev) == ks2 {
				return false, errJSONDup
			}
		}
		// Reslice in place or copy into a new array, never append through the
		// pointer: that would make escape analysis move the caller's stack buffer.
		b = len(ks.refs)
		if b == cap(ks.refs) {
			ks.refs = grownKeys(ks.refs)
		}
		ks.refs = ks.refs[:b+1]
		ks.refs[b] = keyRef{fp: fp, start: int32(start), end: int32(pos - 1), esc: esc}
		if len(ks.refs)-int(s.bases[d]) > bigKeys {
			s.toMap(ks, int(s.bases[d]), d)
		}
	}
	if d == 1 {
		m.fp, m.kStart, m.kEnd, m.kEsc = fp, start, pos-1, esc
	}
	pos = skipSpace(data, pos)
	if pos >= n || data[pos] != ':' {
		return false, errJSONSyntax
	}
	pos++
	if d == 1 {
		pos = skipSpace(data, pos)
		m.vStart = pos
		m.vEsc = false
	}
	goto value

after: // a value ended at pos, inside the container at depth d
	if d == 1 {
		m.vEnd = pos
		s.pos = pos
		s.state = jsonAfter
		return true, nil
	}
	pos = skipSpace(data, pos)
	if pos >= n {
		return false, errJSONSyntax
	}
	c = data[pos]
	pos++
	if c == ',' {
		if isObj&(1<<d) != 0 {
			goto key
		}
		goto value
	}
	if c == '}' && isObj&(1<<d) != 0 {
		ks.refs = ks.refs[:s.bases[d]]
		if s.big != nil {
			s.big[d] = nil
		}
		d--
		goto after
	}
	if c == ']' && isObj&(1<<d) == 0 {
		d--
		goto after
	}
	return false, errJSONSyntax

closed: // the top-level object ended; only whitespace may follow
	pos = skipSpace(data, pos)
	s.pos = pos
	s.state = jsonDone
	if pos != n {
		return false, errJSONSyntax
	}
	return false, nil
}

// toMap moves the keys of the object at depth d (ks.refs[base:]) into a map; its
// further keys are checked and recorded there.
func (s *jsonScanner) toMap(ks *keyStack, base, d int) {
	if s.big == nil {
		s.big = make([]map[string]struct{}, maxJSONDepth+1)
	}
	big := make(map[string]struct{}, 2*bigKeys)
	for _, p := range ks.refs[base:] {
		big[s.keyString(p)] = struct{}{}
	}
	s.big[d] = big
	ks.refs = ks.refs[:base]
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

// nonDigit8 flags (bit 7 of the byte) the bytes of x that are not ASCII digits. As in
// special8, only the lowest flag is exact: digits below it cause no carry or borrow.
func nonDigit8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	return ((x + lo*0x46) | (x - lo*0x30)) & hi
}

// skipSpace returns the position of the first byte at or after pos that is not JSON
// whitespace. Small enough to be inlined, so the scanner pays no call per use; the first
// comparison rejects every byte above ' ' at once.
func skipSpace(data []byte, pos int) int {
	for pos < len(data) && data[pos] <= ' ' && (data[pos] == ' ' || data[pos] == '\t' || data[pos] == '\n' || data[pos] == '\r') {
		pos++
	}
	return pos
}
