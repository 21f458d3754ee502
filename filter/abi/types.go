// Package abi is Gatewarden's guest side of the proxy-wasm ABI v0.2.1, written for the standard
// Go toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared).
//
// It is the only package with //go:wasmimport and //go:wasmexport declarations. Everything above
// it talks to the [Host] interface and implements [RootContext] and [HTTPContext], so filter
// policy runs natively in unit tests against the fake in package abitest.
//
// Spec: https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1
package abi

import (
	"errors"
	"fmt"
	"time"
)

// Status is a proxy_status_t returned by every host call.
type Status uint32

// Status values of ABI v0.2.1.
const (
	StatusOK                  Status = 0
	StatusNotFound            Status = 1
	StatusBadArgument         Status = 2
	StatusSerializationFailed Status = 3
	StatusParseFailure        Status = 4
	StatusInvalidMemoryAccess Status = 6
	StatusEmpty               Status = 7
	StatusCASMismatch         Status = 8
	StatusInternalFailure     Status = 10
	StatusUnimplemented       Status = 12
)

// Errors returned by Host methods for the non-OK statuses callers branch on.
var (
	// ErrNotFound is StatusNotFound: no such header, property, shared data key or metric.
	ErrNotFound = errors.New("proxy-wasm: not found")
	// ErrCASMismatch is StatusCASMismatch: shared data changed since it was read; read it again.
	ErrCASMismatch = errors.New("proxy-wasm: shared data CAS mismatch")
	// ErrEmpty is StatusEmpty: the buffer or queue has nothing in it.
	ErrEmpty = errors.New("proxy-wasm: empty")
	// ErrUnimplemented is StatusUnimplemented: the host does not offer this call.
	ErrUnimplemented = errors.New("proxy-wasm: unimplemented by the host")
)

// Err converts a status into an error: nil for StatusOK, a sentinel where one exists, otherwise
// an error naming the status.
func (s Status) Err() error {
	switch s {
	case StatusOK:
		return nil
	case StatusNotFound:
		return ErrNotFound
	case StatusCASMismatch:
		return ErrCASMismatch
	case StatusEmpty:
		return ErrEmpty
	case StatusUnimplemented:
		return ErrUnimplemented
	}
	return fmt.Errorf("proxy-wasm: host returned status %d", uint32(s))
}

// LogLevel is a proxy_log_level_t.
type LogLevel uint32

// Log levels.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// Action tells the host whether to continue processing a stream after a callback.
type Action uint32

// Actions. ActionPause on request headers stops iteration until [Host.ContinueStream].
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// BufferType selects a buffer for [Host.GetBuffer].
type BufferType uint32

// Buffer types.
const (
	BufferHTTPRequestBody      BufferType = 0
	BufferHTTPResponseBody     BufferType = 1
	BufferDownstreamData       BufferType = 2
	BufferUpstreamData         BufferType = 3
	BufferHTTPCallResponseBody BufferType = 4
	BufferGRPCReceiveBuffer    BufferType = 5
	BufferVMConfiguration      BufferType = 6
	BufferPluginConfiguration  BufferType = 7
	BufferCallData             BufferType = 8
)

// MapType selects a header map.
type MapType uint32

// Map types.
const (
	MapHTTPRequestHeaders       MapType = 0
	MapHTTPRequestTrailers      MapType = 1
	MapHTTPResponseHeaders      MapType = 2
	MapHTTPResponseTrailers     MapType = 3
	MapGRPCReceiveInitialMeta   MapType = 4
	MapGRPCReceiveTrailingMeta  MapType = 5
	MapHTTPCallResponseHeaders  MapType = 6
	MapHTTPCallResponseTrailers MapType = 7
)

// StreamType selects the stream for [Host.ContinueStream] and [Host.CloseStream].
type StreamType uint32

// Stream types.
const (
	StreamRequest    StreamType = 0
	StreamResponse   StreamType = 1
	StreamDownstream StreamType = 2
	StreamUpstream   StreamType = 3
)

// MetricType is the kind of a metric defined with [Host.DefineMetric].
type MetricType uint32

// Metric types.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// Header is one header map entry. Keys are lower case as hosts deliver them.
type Header struct {
	Key, Value string
}

// Host is everything the guest asks of the proxy. The wasm build implements it with host calls;
// tests use abitest.FakeHost.
type Host interface {
	// Log writes msg at level. Never pass a token or secret.
	Log(level LogLevel, msg string)
	// LogLevel reports the host's current log level, so callers skip building unused messages.
	LogLevel() LogLevel
	// Now is the host's wall clock.
	Now() time.Time

	// GetBuffer returns up to max bytes from start of the buffer.
	GetBuffer(buffer BufferType, start, max int) ([]byte, error)
	// Headers returns all entries of a header map in order.
	Headers(m MapType) ([]Header, error)
	// HeadersInto is Headers without garbage: the entries go into dst[:0] and their keys and
	// values point into buf (grown when too small), which the caller owns and must not change
	// while it uses them. It returns both for the next call. Keep a copy of anything that must
	// outlive the buffer's next reuse.
	HeadersInto(m MapType, dst []Header, buf []byte) ([]Header, []byte, error)
	// Header returns the first value of key, or ErrNotFound.
	Header(m MapType, key string) (string, error)
	// AddHeader appends a value for key.
	AddHeader(m MapType, key, value string) error
	// ReplaceHeader sets key to value, replacing all existing values.
	ReplaceHeader(m MapType, key, value string) error
	// RemoveHeader removes every value of key.
	RemoveHeader(m MapType, key string) error

	// SendLocalResponse answers the current stream with status, headers and body instead of
	// forwarding it; it takes effect when the current callback returns.
	SendLocalResponse(status int, details string, body []byte, headers []Header) error
	// ContinueStream resumes a stream paused by ActionPause (of the effective context).
	ContinueStream(stream StreamType) error
	// SetEffectiveContext makes contextID the target of following stream calls, for example
	// to resume a paused request from an HTTP call response on the root context.
	SetEffectiveContext(contextID uint32) error

	// Property returns a host property by path segments, e.g. ("request", "path").
	Property(path ...string) ([]byte, error)

	// SetTickPeriod asks for OnTick every period; 0 turns ticks off.
	SetTickPeriod(period time.Duration) error
	// HTTPCall sends a request to a named upstream (an Envoy cluster, a gateway upstream) and
	// returns its id; the answer arrives in RootContext.OnHTTPCallResponse.
	HTTPCall(upstream string, headers []Header, body []byte, timeout time.Duration) (uint32, error)

	// SharedData returns a value shared by all VMs of the plugin and its CAS token.
	SharedData(key string) ([]byte, uint32, error)
	// SetSharedData stores value if cas is 0 or still current, else ErrCASMismatch.
	SetSharedData(key string, value []byte, cas uint32) error

	// DefineMetric registers a metric and returns its id.
	DefineMetric(kind MetricType, name string) (uint32, error)
	// IncrementMetric adds delta to a counter or gauge.
	IncrementMetric(id uint32, delta int64) error
	// RecordMetric sets a gauge or records a histogram value.
	RecordMetric(id uint32, value uint64) error
}

// RootContext is a plugin instance: configuration, timers, HTTP call responses, and the factory
// of per-request contexts.
type RootContext interface {
	// OnVMStart runs once per VM; vmConfigSize is the size of BufferVMConfiguration.
	OnVMStart(vmConfigSize int) bool
	// OnConfigure delivers the plugin configuration (BufferPluginConfiguration); returning false
	// fails the plugin start.
	OnConfigure(pluginConfigSize int) bool
	// OnTick runs every tick period set by Host.SetTickPeriod.
	OnTick()
	// OnHTTPCallResponse delivers an HTTP call's answer; numHeaders 0 means the call failed.
	// The body is read with Host.GetBuffer(BufferHTTPCallResponseBody, 0, bodySize).
	OnHTTPCallResponse(callID uint32, numHeaders, bodySize, numTrailers int)
	// NewHTTPContext creates the context of one HTTP stream.
	NewHTTPContext(contextID uint32) HTTPContext
}

// HTTPContext handles one HTTP stream. Embed [DefaultHTTPContext] to implement only what you need.
type HTTPContext interface {
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
	OnRequestBody(bodySize int, endOfStream bool) Action
	OnRequestTrailers(numTrailers int) Action
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	OnResponseBody(bodySize int, endOfStream bool) Action
	OnResponseTrailers(numTrailers int) Action
	// OnLog runs after the stream completed, before OnDone.
	OnLog()
	// OnDone is the last callback of the stream; the context is deleted after it.
	OnDone()
}

// Releaser is an HTTPContext the VM hands back once the host deleted it, so the plugin can
// reuse it for a later stream (an allocation per request is a visible cost in wasm). After
// Release the VM never calls the context again.
type Releaser interface {
	Release()
}

// DefaultHTTPContext continues every phase and ignores the end of the stream.
type DefaultHTTPContext struct{}

// OnRequestHeaders continues.
func (DefaultHTTPContext) OnRequestHeaders(int, bool) Action { return ActionContinue }

// OnRequestBody continues.
func (DefaultHTTPContext) OnRequestBody(int, bool) Action { return ActionContinue }

// OnRequestTrailers continues.
func (DefaultHTTPContext) OnRequestTrailers(int) Action { return ActionContinue }

// OnResponseHeaders continues.
func (DefaultHTTPContext) OnResponseHeaders(int, bool) Action { return ActionContinue }

// OnResponseBody continues.
func (DefaultHTTPContext) OnResponseBody(int, bool) Action { return ActionContinue }

// OnResponseTrailers continues.
func (DefaultHTTPContext) OnResponseTrailers(int) Action { return ActionContinue }

// OnLog does nothing.
func (DefaultHTTPContext) OnLog() {}

// OnDone does nothing.
func (DefaultHTTPContext) OnDone() {}

var _ HTTPContext = DefaultHTTPContext{}
