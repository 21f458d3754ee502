// Package host runs proxy-wasm (ABI v0.2.1, also accepting v0.2.0) HTTP
// filters on wazero, the way Envoy does, behind a plain net/http middleware.
//
// A Runtime owns the compilation cache (optionally on disk) and the state
// shared between plugins of the same vm_id (shared data, shared queues). A
// Plugin is one loaded module with its configuration, run by N VM instances.
// A wasm instance is never entered concurrently: every call into it is made
// with the VM's lock held, by the VM's worker goroutine (timers, callout
// responses, queued work) or, when the VM is idle, by the request's own
// goroutine, as an Envoy worker thread runs the filters of its connections
// (this saves two goroutine hand-offs per callback). Requests are pinned to
// the least busy VM for their whole life, and a stream's callbacks run in
// order.
//
// Limits.MaxCallbackTime is enforced by instrumenting the module (package
// host/meter): an inline budget charged at every function entry and loop
// iteration calls one host function every meter.Interval units, where the
// host stops a callback past its deadline and Go can preempt the goroutine.
// Modules the rewrite does not understand fall back to wazero's
// close-on-context-done, which exits to Go at every loop iteration.
//
// Behaviour follows the spec
// (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1) and,
// where the spec is silent, Envoy: pseudo-headers first and lower-cased keys,
// local responses and resumes take effect after the callback returns, a
// paused stream waits for proxy_continue_stream (bounded by a timeout that
// fails closed), integer properties are 8-byte little-endian. A trap or panic
// in the guest fails the affected requests closed (503) unless the plugin is
// configured to fail open, and the VM is replaced.
//
// Properties: request.*, response.code and .headers, source.*, destination.*,
// connection.mtls, .tls_version and .requested_server_name, plugin_name,
// plugin_root_id and plugin_vm_id, plus route_name, cluster_name (also under xds.)
// and upstream.address and .port when the server attaches a RequestInfo to the
// request (the gateway does: its route prefix, the upstream's name, the endpoint
// host:port as configured, not resolved). Envoy's node, metadata and filter_state
// protobufs are not provided (NOT_FOUND); proxy_set_property values read back.
package host
