//go:build wasip1

package abi

import "unsafe"

// pinned holds the buffers the host allocated through proxy_on_memory_allocate until the guest
// takes them after the host call returns; without it the GC could free them in between. A host
// call allocates at most once, so this is a short list, not a map (map inserts and deletes are
// slow in wasm).
var pinned []pin

type pin struct {
	ptr uint32
	buf []byte
}

// allocInto is a caller-owned buffer the next allocation uses if it fits (see
// wasmHost.HeadersInto), so a header map read allocates nothing.
var allocInto []byte

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	n := size
	if n == 0 {
		n = 1
	}
	var buf []byte
	if uint32(cap(allocInto)) >= n {
		buf = allocInto[:n:n]
		allocInto = nil
	} else {
		buf = make([]byte, n)
	}
	p := uint32(uintptr(unsafe.Pointer(&buf[0])))
	pinned = append(pinned, pin{ptr: p, buf: buf})
	return p
}

// take returns the first n bytes of the host-allocated buffer at p and unpins it. A pointer the
// guest did not hand out, or a length past its end, is an error, never a read of arbitrary memory.
func take(p, n uint32) ([]byte, error) {
	if p == 0 && n == 0 {
		return nil, nil
	}
	for i := len(pinned) - 1; i >= 0; i-- {
		if pinned[i].ptr != p {
			continue
		}
		buf := pinned[i].buf
		last := len(pinned) - 1
		pinned[i] = pinned[last]
		pinned[last] = pin{}
		pinned = pinned[:last]
		if n > uint32(len(buf)) {
			return nil, StatusInvalidMemoryAccess.Err()
		}
		return buf[:n:n], nil
	}
	return nil, StatusInvalidMemoryAccess.Err()
}
