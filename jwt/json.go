package jwt

import (
	"errors"
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
	s := jsonScanner{data: data}
	s.ws()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return errJSONObject
	}
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(data) {
		return errJSONSyntax
	}
	return nil
}

type jsonScanner struct {
	data []byte
	pos  int
	keys []string // keys of the objects being scanned (a stack), for duplicate checks
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

func (s *jsonScanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return errJSONSyntax
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
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

func (s *jsonScanner) object(depth int) error {
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	s.pos++ // '{'
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	base := len(s.keys)
	var big map[string]struct{}
	defer func() { s.keys = s.keys[:base] }()
	for {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return errJSONSyntax
		}
		k, err := s.str(true)
		if err != nil {
			return err
		}
		if big != nil {
			if _, dup := big[k]; dup {
				return errJSONDup
			}
			big[k] = struct{}{}
		} else {
			for _, prev := range s.keys[base:] {
				if prev == k {
					return errJSONDup
				}
			}
			s.keys = append(s.keys, k)
			if len(s.keys)-base > 32 {
				big = make(map[string]struct{}, 64)
				for _, p := range s.keys[base:] {
					big[p] = struct{}{}
				}
			}
		}
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return errJSONSyntax
		}
		s.pos++
		s.ws()
		if err := s.value(depth); err != nil {
			return err
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
			return nil
		default:
			return errJSONSyntax
		}
	}
}

func (s *jsonScanner) array(depth int) error {
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
		if err := s.value(depth); err != nil {
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
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if !decode {
				return "", nil
			}
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
