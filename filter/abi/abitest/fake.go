// Package abitest is an in-memory proxy-wasm host for native unit tests of guest code: it
// implements abi.Host, drives an abi.VM through the callbacks a real host would make, and
// records what the guest did (headers, local responses, calls, logs, metrics).
//
// It follows Envoy where the spec is silent: header keys are lower case, a local response or a
// continue takes effect after the callback returns, and HTTP calls answer only when the test
// says so.
package abitest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
)

// LocalResponse is what the guest sent with SendLocalResponse.
type LocalResponse struct {
	Status  int
	Details string
	Body    []byte
	Headers []abi.Header
}

// Header returns the first value of key in the response headers.
func (r *LocalResponse) Header(key string) string {
	return find(r.Headers, key)
}

// Call is an HTTP call the guest made.
type Call struct {
	ID       uint32
	Upstream string
	Headers  []abi.Header
	Body     []byte
	Timeout  time.Duration
	Answered bool
}

// Header returns the first value of key in the call's request headers.
func (c *Call) Header(key string) string { return find(c.Headers, key) }

// LogEntry is one log line the guest wrote.
type LogEntry struct {
	Level abi.LogLevel
	Msg   string
}

// Metric is a metric the guest defined.
type Metric struct {
	Kind  abi.MetricType
	Name  string
	Value int64
}

type shared struct {
	value []byte
	cas   uint32
}

// SharedStore is proxy shared data: one store serves every VM of a plugin, so tests give
// several fake hosts (VMs) the same store.
type SharedStore struct {
	entries map[string]*shared
	casSeq  uint32
}

// NewSharedStore returns an empty store.
func NewSharedStore() *SharedStore { return &SharedStore{entries: map[string]*shared{}} }

// Host is the fake host. Its exported fields may be set by tests before or between callbacks.
type Host struct {
	// Clock is returned by Now; tests move it.
	Clock time.Time
	// Level is the host log level.
	Level abi.LogLevel
	// VMConfig and PluginConfig are buffers 6 and 7.
	VMConfig, PluginConfig []byte
	// Properties are served by Property, keyed by the path segments joined with ".".
	Properties map[string][]byte
	// Upstreams the guest may call; an unknown name is BadArgument, as in Envoy.
	Upstreams map[string]bool

	Logs       []LogEntry
	Calls      []*Call
	Metrics    []*Metric
	TickPeriod time.Duration

	vm      *abi.VM
	rootID  uint32
	nextID  uint32
	current uint32 // effective context
	streams map[uint32]*Stream
	// Shared is this VM's shared data; point several hosts at one store to model several VMs.
	Shared    *SharedStore
	callBody  []byte
	callHdrs  []abi.Header
	inCallbck bool
}

var _ abi.Host = (*Host)(nil)

// New returns a fake host with a VM running the plugin created by newRoot.
func New(newRoot func(contextID uint32, host abi.Host) abi.RootContext) *Host {
	h := &Host{
		Clock:      time.Unix(1_700_000_000, 0),
		Level:      abi.LogInfo,
		Properties: map[string][]byte{},
		Upstreams:  map[string]bool{},
		streams:    map[uint32]*Stream{},
		Shared:     NewSharedStore(),
		nextID:     1,
	}
	h.vm = abi.NewVM(h, newRoot)
	return h
}

// Start creates the root context and runs vm_start and configure with PluginConfig, as a host
// does when it loads the plugin. It reports configure's result.
func (h *Host) Start() bool {
	h.rootID = h.newID()
	h.current = h.rootID
	h.vm.OnContextCreate(h.rootID, 0)
	if !h.vm.OnVMStart(h.rootID, len(h.VMConfig)) {
		return false
	}
	return h.vm.OnConfigure(h.rootID, len(h.PluginConfig))
}

// Root returns the plugin's root context, for tests that inspect plugin state.
func (h *Host) Root() abi.RootContext { return h.vm.Root(h.rootID) }

// VM returns the VM the fake drives.
func (h *Host) VM() *abi.VM { return h.vm }

// Tick runs one tick on the root context.
func (h *Host) Tick() {
	h.current = h.rootID
	h.vm.OnTick(h.rootID)
}

// Respond answers HTTP call id with headers (include ":status"), body and no trailers. A nil
// headers slice delivers a failed call (zero headers), as hosts do on reset or timeout.
func (h *Host) Respond(id uint32, headers []abi.Header, body []byte) error {
	var call *Call
	for _, c := range h.Calls {
		if c.ID == id {
			call = c
		}
	}
	if call == nil || call.Answered {
		return fmt.Errorf("abitest: no pending call %d", id)
	}
	call.Answered = true
	h.callHdrs, h.callBody = headers, body
	defer func() { h.callHdrs, h.callBody = nil, nil }()
	h.current = h.rootID
	h.inCallbck = true
	h.vm.OnHTTPCallResponse(h.rootID, id, len(headers), len(body), 0)
	h.inCallbck = false
	h.applyDeferred()
	return nil
}

// PendingCalls returns the calls not answered yet.
func (h *Host) PendingCalls() []*Call {
	var out []*Call
	for _, c := range h.Calls {
		if !c.Answered {
			out = append(out, c)
		}
	}
	return out
}

// Metric returns the metric named name, or nil.
func (h *Host) Metric(name string) *Metric {
	for _, m := range h.Metrics {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func (h *Host) newID() uint32 {
	id := h.nextID
	h.nextID++
	return id
}

// Stream is one HTTP stream through the fake host.
type Stream struct {
	ID              uint32
	RequestHeaders  []abi.Header
	ResponseHeaders []abi.Header
	// Local is set when the guest answered the request itself.
	Local *LocalResponse
	// Paused is true while the request waits for ContinueStream.
	Paused bool
	// Forwarded is true once the request went on to the upstream.
	Forwarded bool

	host            *Host
	pendingLocal    *LocalResponse
	pendingContinue bool
}

// NewStream creates an HTTP context for a new request.
func (h *Host) NewStream() *Stream {
	s := &Stream{ID: h.newID(), host: h}
	h.streams[s.ID] = s
	h.vm.OnContextCreate(s.ID, h.rootID)
	return s
}

// Request runs a whole request's header phase: request headers (pseudo-headers ":method",
// ":path", ":authority", ":scheme" are added from method, path and "example.com" when absent).
func (h *Host) Request(method, path string, headers ...abi.Header) *Stream {
	s := h.NewStream()
	all := []abi.Header{{Key: ":method", Value: method}, {Key: ":path", Value: path},
		{Key: ":authority", Value: "example.com"}, {Key: ":scheme", Value: "http"}}
	for _, hd := range headers {
		all = append(all, abi.Header{Key: strings.ToLower(hd.Key), Value: hd.Value})
	}
	s.SendRequestHeaders(all, true)
	return s
}

// SendRequestHeaders delivers request headers to the guest.
func (s *Stream) SendRequestHeaders(headers []abi.Header, endOfStream bool) abi.Action {
	s.RequestHeaders = headers
	h := s.host
	h.current = s.ID
	h.inCallbck = true
	a := h.vm.OnRequestHeaders(s.ID, len(headers), endOfStream)
	h.inCallbck = false
	switch {
	case s.pendingLocal != nil:
	case a == abi.ActionContinue:
		s.Forwarded = true
	default:
		s.Paused = true
	}
	h.applyDeferred()
	return a
}

// SendResponseHeaders delivers upstream response headers to the guest.
func (s *Stream) SendResponseHeaders(headers []abi.Header, endOfStream bool) abi.Action {
	s.ResponseHeaders = headers
	h := s.host
	h.current = s.ID
	h.inCallbck = true
	a := h.vm.OnResponseHeaders(s.ID, len(headers), endOfStream)
	h.inCallbck = false
	h.applyDeferred()
	return a
}

// Finish ends the stream: on_log, on_done, on_delete.
func (s *Stream) Finish() {
	h := s.host
	h.current = s.ID
	h.vm.OnLog(s.ID)
	h.vm.OnDone(s.ID)
	h.vm.OnDelete(s.ID)
	delete(h.streams, s.ID)
}

// FinishWithoutDone ends the stream as a host does for a module that does not export
// proxy_on_done (Gatewarden's filter): on_log, then on_delete.
func (s *Stream) FinishWithoutDone() {
	h := s.host
	h.current = s.ID
	h.vm.OnLog(s.ID)
	h.vm.OnDelete(s.ID)
	delete(h.streams, s.ID)
}

// RequestHeader returns the first value of key the upstream would see.
func (s *Stream) RequestHeader(key string) string { return find(s.RequestHeaders, key) }

// RequestHeaderValues returns every value of key the upstream would see.
func (s *Stream) RequestHeaderValues(key string) []string {
	var out []string
	for _, h := range s.RequestHeaders {
		if h.Key == key {
			out = append(out, h.Value)
		}
	}
	return out
}

// applyDeferred makes local responses and continues take effect after the callback returned.
func (h *Host) applyDeferred() {
	for _, s := range h.streams {
		if s.pendingLocal != nil {
			s.Local, s.pendingLocal = s.pendingLocal, nil
			s.Paused, s.pendingContinue = false, false
		}
		if s.pendingContinue {
			s.pendingContinue = false
			if s.Paused {
				s.Paused, s.Forwarded = false, true
			}
		}
	}
}

func find(headers []abi.Header, key string) string {
	for _, h := range headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Log implements abi.Host.
func (h *Host) Log(level abi.LogLevel, msg string) {
	h.Logs = append(h.Logs, LogEntry{Level: level, Msg: msg})
}

// LogLevel implements abi.Host.
func (h *Host) LogLevel() abi.LogLevel { return h.Level }

// Now implements abi.Host.
func (h *Host) Now() time.Time { return h.Clock }

// GetBuffer implements abi.Host.
func (h *Host) GetBuffer(buffer abi.BufferType, start, max int) ([]byte, error) {
	var b []byte
	switch buffer {
	case abi.BufferVMConfiguration:
		b = h.VMConfig
	case abi.BufferPluginConfiguration:
		b = h.PluginConfig
	case abi.BufferHTTPCallResponseBody:
		b = h.callBody
	default:
		return nil, abi.ErrNotFound
	}
	if start < 0 || max < 0 || start > len(b) {
		return nil, abi.StatusBadArgument.Err()
	}
	end := min(len(b), start+max)
	return append([]byte(nil), b[start:end]...), nil
}

func (h *Host) headerMap(m abi.MapType) (*[]abi.Header, error) {
	switch m {
	case abi.MapHTTPCallResponseHeaders:
		return &h.callHdrs, nil
	case abi.MapHTTPRequestHeaders, abi.MapHTTPResponseHeaders:
		s, ok := h.streams[h.current]
		if !ok {
			return nil, abi.StatusBadArgument.Err()
		}
		if m == abi.MapHTTPRequestHeaders {
			return &s.RequestHeaders, nil
		}
		return &s.ResponseHeaders, nil
	}
	return nil, abi.StatusBadArgument.Err()
}

// Headers implements abi.Host.
func (h *Host) Headers(m abi.MapType) ([]abi.Header, error) {
	hm, err := h.headerMap(m)
	if err != nil {
		return nil, err
	}
	return append([]abi.Header(nil), *hm...), nil
}

// HeadersInto implements abi.Host. Like the wasm host, it reuses dst and round-trips the
// entries through buf in the ABI's wire format, so values alias buf as they do in wasm and a
// caller that keeps one past the buffer's reuse sees it change in tests too.
func (h *Host) HeadersInto(m abi.MapType, dst []abi.Header, buf []byte) ([]abi.Header, []byte, error) {
	hm, err := h.headerMap(m)
	if err != nil {
		return dst[:0], buf, err
	}
	enc := abi.EncodeHeaderMap(*hm)
	if cap(buf) < len(enc) {
		buf = make([]byte, 0, len(enc))
	}
	b := append(buf[:0], enc...)
	hs, err := abi.DecodeHeaderMapInto(b, dst)
	return hs, buf[:0], err
}

// Header implements abi.Host.
func (h *Host) Header(m abi.MapType, key string) (string, error) {
	hm, err := h.headerMap(m)
	if err != nil {
		return "", err
	}
	key = strings.ToLower(key)
	for _, e := range *hm {
		if e.Key == key {
			return e.Value, nil
		}
	}
	return "", abi.ErrNotFound
}

// AddHeader implements abi.Host.
func (h *Host) AddHeader(m abi.MapType, key, value string) error {
	hm, err := h.headerMap(m)
	if err != nil {
		return err
	}
	*hm = append(*hm, abi.Header{Key: strings.ToLower(key), Value: value})
	return nil
}

// ReplaceHeader implements abi.Host.
func (h *Host) ReplaceHeader(m abi.MapType, key, value string) error {
	if err := h.RemoveHeader(m, key); err != nil {
		return err
	}
	return h.AddHeader(m, key, value)
}

// RemoveHeader implements abi.Host.
func (h *Host) RemoveHeader(m abi.MapType, key string) error {
	hm, err := h.headerMap(m)
	if err != nil {
		return err
	}
	key = strings.ToLower(key)
	out := (*hm)[:0]
	for _, e := range *hm {
		if e.Key != key {
			out = append(out, e)
		}
	}
	*hm = out
	return nil
}

// SendLocalResponse implements abi.Host.
func (h *Host) SendLocalResponse(status int, details string, body []byte, headers []abi.Header) error {
	s, ok := h.streams[h.current]
	if !ok {
		return abi.StatusBadArgument.Err()
	}
	s.pendingLocal = &LocalResponse{Status: status, Details: details, Body: append([]byte(nil), body...), Headers: headers}
	if !h.inCallbck {
		h.applyDeferred()
	}
	return nil
}

// ContinueStream implements abi.Host.
func (h *Host) ContinueStream(stream abi.StreamType) error {
	s, ok := h.streams[h.current]
	if !ok || stream != abi.StreamRequest {
		return abi.StatusBadArgument.Err()
	}
	s.pendingContinue = true
	if !h.inCallbck {
		h.applyDeferred()
	}
	return nil
}

// SetEffectiveContext implements abi.Host.
func (h *Host) SetEffectiveContext(id uint32) error {
	if _, ok := h.streams[id]; !ok && id != h.rootID {
		return abi.StatusBadArgument.Err()
	}
	h.current = id
	return nil
}

// Property implements abi.Host.
func (h *Host) Property(path ...string) ([]byte, error) {
	v, ok := h.Properties[strings.Join(path, ".")]
	if !ok {
		return nil, abi.ErrNotFound
	}
	return v, nil
}

// SetTickPeriod implements abi.Host.
func (h *Host) SetTickPeriod(period time.Duration) error {
	h.TickPeriod = period
	return nil
}

// HTTPCall implements abi.Host.
func (h *Host) HTTPCall(upstream string, headers []abi.Header, body []byte, timeout time.Duration) (uint32, error) {
	if !h.Upstreams[upstream] {
		return 0, abi.StatusBadArgument.Err()
	}
	for _, need := range []string{":method", ":path", ":authority"} {
		if find(headers, need) == "" {
			return 0, fmt.Errorf("abitest: HTTP call without %s: %w", need, abi.StatusBadArgument.Err())
		}
	}
	c := &Call{ID: h.newID(), Upstream: upstream, Headers: headers, Body: body, Timeout: timeout}
	h.Calls = append(h.Calls, c)
	return c.ID, nil
}

// SharedData implements abi.Host.
func (h *Host) SharedData(key string) ([]byte, uint32, error) {
	e, ok := h.Shared.entries[key]
	if !ok {
		return nil, 0, abi.ErrNotFound
	}
	return append([]byte(nil), e.value...), e.cas, nil
}

// SetSharedData implements abi.Host.
func (h *Host) SetSharedData(key string, value []byte, cas uint32) error {
	st := h.Shared
	e, ok := st.entries[key]
	if ok && cas != 0 && cas != e.cas {
		return abi.ErrCASMismatch
	}
	if !ok {
		e = &shared{}
		st.entries[key] = e
	}
	st.casSeq++
	e.value, e.cas = append([]byte(nil), value...), st.casSeq
	return nil
}

// DefineMetric implements abi.Host.
func (h *Host) DefineMetric(kind abi.MetricType, name string) (uint32, error) {
	for i, m := range h.Metrics {
		if m.Name == name {
			return uint32(i), nil
		}
	}
	h.Metrics = append(h.Metrics, &Metric{Kind: kind, Name: name})
	return uint32(len(h.Metrics) - 1), nil
}

// IncrementMetric implements abi.Host.
func (h *Host) IncrementMetric(id uint32, delta int64) error {
	if int(id) >= len(h.Metrics) {
		return abi.ErrNotFound
	}
	m := h.Metrics[id]
	if m.Kind == abi.MetricCounter && delta <= 0 {
		return errors.New("abitest: counter delta must be positive")
	}
	m.Value += delta
	return nil
}

// RecordMetric implements abi.Host.
func (h *Host) RecordMetric(id uint32, value uint64) error {
	if int(id) >= len(h.Metrics) {
		return abi.ErrNotFound
	}
	m := h.Metrics[id]
	if m.Kind == abi.MetricCounter {
		m.Value += int64(value)
	} else {
		m.Value = int64(value)
	}
	return nil
}
