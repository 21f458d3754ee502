//go:build wasip1 && proxywasm_full

package abi

// The stream callbacks Gatewarden's filter does not need: bodies, trailers, the response,
// on_log and on_done. A host calls only what a module exports, so leaving them out saves
// several guest calls per request (measured: ~12% of a cache-hit request's guest time, and each
// call costs 2-3 us more when the guest's code is not in the CPU caches). Without proxy_on_done
// the host treats a stream as done at once and the VM delivers OnDone from proxy_on_delete.
// Build with -tags proxywasm_full for a plugin that implements them.

//go:wasmexport proxy_on_done
func proxyOnDone(contextID uint32) bool { return theVM().OnDone(contextID) }

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(contextID, bodySize uint32, endOfStream bool) uint32 {
	return uint32(theVM().OnRequestBody(contextID, int(bodySize), endOfStream))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(theVM().OnRequestTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID, numHeaders uint32, endOfStream bool) uint32 {
	return uint32(theVM().OnResponseHeaders(contextID, int(numHeaders), endOfStream))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(contextID, bodySize uint32, endOfStream bool) uint32 {
	return uint32(theVM().OnResponseBody(contextID, int(bodySize), endOfStream))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(theVM().OnResponseTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_log
func proxyOnLog(contextID uint32) { theVM().OnLog(contextID) }
