package host

import (
	"encoding/binary"
	"errors"
	"strings"
)

// kv is one header (or trailer, or metadata) field. Keys are lower-case.
type kv struct {
	key, val string
}

// Limits of a serialized map read from the guest, as proxy-wasm-cpp-host
// uses (limits.h): at most 1024 pairs.
const maxMapPairs = 1024

var errMapFormat = errors.New("host: malformed serialized header map")

// mapSize returns the serialized size of pairs in the proxy-wasm map format
// (spec "Serialization"): u32 count, count*(u32 klen, u32 vlen), then each
// key\0value\0. An empty map serializes to zero bytes.
func mapSize(pairs []kv) int {
	if len(pairs) == 0 {
		return 0
	}
	n := 4 + 8*len(pairs)
	for i := range pairs {
		n += len(pairs[i].key) + len(pairs[i].val) + 2
	}
	return n
}

// encodeMap writes pairs into dst, which must be exactly mapSize(pairs) long.
func encodeMap(dst []byte, pairs []kv) {
	if len(pairs) == 0 {
		return
	}
	binary.LittleEndian.PutUint32(dst, uint32(len(pairs)))
	o := 4
	for i := range pairs {
		binary.LittleEndian.PutUint32(dst[o:], uint32(len(pairs[i].key)))
		binary.LittleEndian.PutUint32(dst[o+4:], uint32(len(pairs[i].val)))
		o += 8
	}
	for i := range pairs {
		o += copy(dst[o:], pairs[i].key)
		dst[o] = 0
		o++
		o += copy(dst[o:], pairs[i].val)
		dst[o] = 0
		o++
	}
}

// appendMap appends the serialized form of pairs to dst.
func appendMap(dst []byte, pairs []kv) []byte {
	n := mapSize(pairs)
	l := len(dst)
	dst = append(dst, make([]byte, n)...)
	encodeMap(dst[l:], pairs)
	return dst
}

// decodeMap parses a serialized map. It accepts the two empty forms the spec
// allows (zero bytes, a single 0x00 byte) and rejects truncated data,
// missing NUL terminators, trailing bytes and more than maxPairs pairs.
// Keys and values are copied out of data.
func decodeMap(data []byte, maxPairs int) ([]kv, error) {
	if len(data) == 0 || (len(data) == 1 && data[0] == 0) {
		return nil, nil
	}
	if len(data) < 4 {
		return nil, errMapFormat
	}
	n := uint64(binary.LittleEndian.Uint32(data))
	if n > uint64(maxPairs) {
		return nil, errMapFormat
	}
	if n == 0 {
		if len(data) != 4 {
			return nil, errMapFormat
		}
		return nil, nil
	}
	size := uint64(len(data))
	pos := 4 + 8*n // strings start here
	if pos > size {
		return nil, errMapFormat
	}
	pairs := make([]kv, n)
	for i := uint64(0); i < n; i++ {
		kl := uint64(binary.LittleEndian.Uint32(data[4+8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(data[8+8*i:]))
		end := pos + kl + 1 + vl + 1
		if end > size || data[pos+kl] != 0 || data[pos+kl+1+vl] != 0 {
			return nil, errMapFormat
		}
		pairs[i] = kv{key: string(data[pos : pos+kl]), val: string(data[pos+kl+1 : pos+kl+1+vl])}
		pos = end
	}
	if pos != size {
		return nil, errMapFormat
	}
	return pairs, nil
}

// equalFoldASCII reports whether b equals the lower-case key s, ignoring
// ASCII case in b, without allocating.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// lowerBytes returns b as a lower-case string.
func lowerBytes(b []byte) string {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(string(b))
		}
	}
	return string(b)
}

// validName reports whether a guest-supplied header name is acceptable: an
// HTTP token, or a pseudo-header (":" + token). This keeps a filter from
// injecting CR/LF or NUL into the messages we forward.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	if b[0] == ':' {
		i = 1
		if len(b) == 1 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if !isTokenChar(b[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validValue reports whether a header value contains no CR, LF or NUL.
func validValue(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

func validPairs(pairs []kv) bool {
	for i := range pairs {
		if !validNameStr(pairs[i].key) || !validValueStr(pairs[i].val) {
			return false
		}
	}
	return true
}

func validNameStr(s string) bool {
	if len(s) == 0 {
		return false
	}
	i := 0
	if s[0] == ':' {
		i = 1
		if len(s) == 1 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func validValueStr(s string) bool {
	return strings.IndexAny(s, "\r\n\x00") < 0
}

// lowerPairs lower-cases all keys in place.
func lowerPairs(pairs []kv) {
	for i := range pairs {
		pairs[i].key = lowerKey(pairs[i].key)
	}
}

// lowerKey lower-cases an HTTP header name, avoiding allocation for
// already-lower names and for the common canonical names Go produces.
func lowerKey(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			if l, ok := commonLower[k]; ok {
				return l
			}
			return strings.ToLower(k)
		}
	}
	return k
}

var commonLower = func() map[string]string {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Cookie", "Date", "Etag", "Expect", "Forwarded", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "Keep-Alive", "Last-Modified", "Location", "Origin", "Pragma",
		"Proxy-Authorization", "Range", "Referer", "Server", "Set-Cookie", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "Vary", "Via", "Www-Authenticate",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
		"X-Real-Ip", "X-Client-Id", "X-User-Id", "Access-Control-Allow-Origin",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest", "Upgrade-Insecure-Requests",
		"Grpc-Status", "Grpc-Message", "Content-Security-Policy", "Strict-Transport-Security",
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = strings.ToLower(n)
	}
	return m
}()

// getFirst returns the first value of key (lower-case) in pairs.
func getFirst(pairs []kv, key string) (string, bool) {
	for i := range pairs {
		if pairs[i].key == key {
			return pairs[i].val, true
		}
	}
	return "", false
}
