package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// maxHeaderPairs bounds a decoded header map, as proxy-wasm-cpp-host does (1024 pairs).
const maxHeaderPairs = 1024

// ErrHeaderMap reports header map bytes that do not follow the ABI's serialization.
var ErrHeaderMap = errors.New("proxy-wasm: malformed header map")

// EncodeHeaderMap serializes headers in the ABI's wire format: a little-endian u32 count, then
// a (u32 key length, u32 value length) pair per entry, then each key and value followed by NUL.
// An empty map encodes as nil.
func EncodeHeaderMap(headers []Header) []byte {
	if len(headers) == 0 {
		return nil
	}
	size := 4 + 8*len(headers)
	for _, h := range headers {
		size += len(h.Key) + len(h.Value) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(headers)))
	lens := buf[4:]
	data := buf[4+8*len(headers):]
	for i, h := range headers {
		binary.LittleEndian.PutUint32(lens[8*i:], uint32(len(h.Key)))
		binary.LittleEndian.PutUint32(lens[8*i+4:], uint32(len(h.Value)))
		n := copy(data, h.Key)
		data[n] = 0
		data = data[n+1:]
		n = copy(data, h.Value)
		data[n] = 0
		data = data[n+1:]
	}
	return buf
}

// DecodeHeaderMap parses the ABI's header map wire format strictly: counts and lengths must fit,
// every key and value must be NUL-terminated, and no bytes may trail. Empty input (or a lone NUL,
// which some hosts send) is an empty map.
func DecodeHeaderMap(b []byte) ([]Header, error) {
	return decodeHeaderMap(b, false, nil)
}

// DecodeHeaderMapInto is DecodeHeaderMap with the entries in dst[:0] (when it is large enough)
// and keys and values pointing into b, which must not change while they are used.
func DecodeHeaderMapInto(b []byte, dst []Header) ([]Header, error) {
	return decodeHeaderMap(b, true, dst)
}

// decodeHeaderMap is DecodeHeaderMap; with alias the keys and values point into b instead of
// being copied (two allocations fewer per header, a visible share of a request in wasm), so b
// must not change while they are used. The entries go into dst[:0] when it is large enough.
func decodeHeaderMap(b []byte, alias bool, dst []Header) ([]Header, error) {
	if len(b) == 0 || (len(b) == 1 && b[0] == 0) {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, want at least 4", ErrHeaderMap, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxHeaderPairs {
		return nil, fmt.Errorf("%w: %d pairs, limit %d", ErrHeaderMap, n, maxHeaderPairs)
	}
	lensEnd := 4 + 8*uint64(n)
	if uint64(len(b)) < lensEnd {
		return nil, fmt.Errorf("%w: %d pairs need %d bytes of lengths, have %d", ErrHeaderMap, n, lensEnd, len(b))
	}
	var headers []Header
	if uint32(cap(dst)) >= n {
		headers = dst[:n]
	} else {
		headers = make([]Header, n)
	}
	data := b[lensEnd:]
	for i := range headers {
		kl := uint64(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(b[8+8*i:]))
		if uint64(len(data)) < kl+vl+2 || data[kl] != 0 || data[kl+1+vl] != 0 {
			return nil, fmt.Errorf("%w: entry %d overruns the buffer or lacks its NUL terminators", ErrHeaderMap, i)
		}
		if alias {
			headers[i] = Header{Key: unsafeString(data[:kl]), Value: unsafeString(data[kl+1 : kl+1+vl])}
		} else {
			headers[i] = Header{Key: string(data[:kl]), Value: string(data[kl+1 : kl+1+vl])}
		}
		data = data[kl+vl+2:]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%w: %d bytes trail the last entry", ErrHeaderMap, len(data))
	}
	return headers, nil
}

// unsafeString views b as a string without copying; b must not change while the string lives.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
