//go:build wasip1

package abi

import (
	"strings"
	"time"
)

// wasmHost implements Host with the proxy-wasm host calls.
type wasmHost struct{}

var _ Host = wasmHost{}

func (wasmHost) Log(level LogLevel, msg string) {
	proxyLog(uint32(level), strPtr(msg), uint32(len(msg)))
}

func (wasmHost) LogLevel() LogLevel {
	var l uint32
	if proxyGetLogLevel(&l) != uint32(StatusOK) {
		return LogInfo
	}
	return LogLevel(l)
}

func (wasmHost) Now() time.Time {
	var ns uint64
	if proxyGetCurrentTimeNanoseconds(&ns) != uint32(StatusOK) {
		return time.Now()
	}
	return time.Unix(0, int64(ns))
}

func (wasmHost) GetBuffer(buffer BufferType, start, max int) ([]byte, error) {
	var p, n uint32
	if err := Status(proxyGetBufferBytes(uint32(buffer), uint32(start), uint32(max), &p, &n)).Err(); err != nil {
		return nil, err
	}
	return take(p, n)
}

func (h wasmHost) Headers(m MapType) ([]Header, error) {
	// A fresh buffer that nothing else refers to: the headers may alias it.
	hs, _, err := h.HeadersInto(m, nil, nil)
	return hs, err
}

func (wasmHost) HeadersInto(m MapType, dst []Header, buf []byte) ([]Header, []byte, error) {
	var p, n uint32
	allocInto = buf[:cap(buf)]
	st := Status(proxyGetHeaderMapPairs(uint32(m), &p, &n))
	allocInto = nil
	if err := st.Err(); err != nil {
		return dst[:0], buf, err
	}
	b, err := take(p, n)
	if err != nil {
		return dst[:0], buf, err
	}
	if len(b) > cap(buf) {
		buf = b[:0] // the host needed more room than buf had: keep its buffer for next time
	}
	hs, err := decodeHeaderMap(b, true, dst)
	return hs, buf, err
}

func (wasmHost) Header(m MapType, key string) (string, error) {
	var p, n uint32
	if err := Status(proxyGetHeaderMapValue(uint32(m), strPtr(key), uint32(len(key)), &p, &n)).Err(); err != nil {
		return "", err
	}
	b, err := take(p, n)
	return string(b), err
}

func (wasmHost) AddHeader(m MapType, key, value string) error {
	return Status(proxyAddHeaderMapValue(uint32(m), strPtr(key), uint32(len(key)), strPtr(value), uint32(len(value)))).Err()
}

func (wasmHost) ReplaceHeader(m MapType, key, value string) error {
	return Status(proxyReplaceHeaderMapValue(uint32(m), strPtr(key), uint32(len(key)), strPtr(value), uint32(len(value)))).Err()
}

func (wasmHost) RemoveHeader(m MapType, key string) error {
	return Status(proxyRemoveHeaderMapValue(uint32(m), strPtr(key), uint32(len(key)))).Err()
}

func (wasmHost) SendLocalResponse(status int, details string, body []byte, headers []Header) error {
	h := EncodeHeaderMap(headers)
	return Status(proxySendLocalResponse(uint32(status), strPtr(details), uint32(len(details)),
		bytesPtr(body), uint32(len(body)), bytesPtr(h), uint32(len(h)), -1)).Err()
}

func (wasmHost) ContinueStream(stream StreamType) error {
	return Status(proxyContinueStream(uint32(stream))).Err()
}

func (wasmHost) SetEffectiveContext(contextID uint32) error {
	return Status(proxySetEffectiveContext(contextID)).Err()
}

func (wasmHost) Property(path ...string) ([]byte, error) {
	key := strings.Join(path, "\x00")
	var p, n uint32
	if err := Status(proxyGetProperty(strPtr(key), uint32(len(key)), &p, &n)).Err(); err != nil {
		return nil, err
	}
	return take(p, n)
}

func (wasmHost) SetTickPeriod(period time.Duration) error {
	return Status(proxySetTickPeriodMilliseconds(uint32(period / time.Millisecond))).Err()
}

func (wasmHost) HTTPCall(upstream string, headers []Header, body []byte, timeout time.Duration) (uint32, error) {
	h := EncodeHeaderMap(headers)
	var id uint32
	err := Status(proxyHTTPCall(strPtr(upstream), uint32(len(upstream)), bytesPtr(h), uint32(len(h)),
		bytesPtr(body), uint32(len(body)), nil, 0, uint32(timeout/time.Millisecond), &id)).Err()
	return id, err
}

func (wasmHost) SharedData(key string) ([]byte, uint32, error) {
	var p, n, cas uint32
	if err := Status(proxyGetSharedData(strPtr(key), uint32(len(key)), &p, &n, &cas)).Err(); err != nil {
		return nil, 0, err
	}
	b, err := take(p, n)
	return b, cas, err
}

func (wasmHost) SetSharedData(key string, value []byte, cas uint32) error {
	return Status(proxySetSharedData(strPtr(key), uint32(len(key)), bytesPtr(value), uint32(len(value)), cas)).Err()
}

func (wasmHost) DefineMetric(kind MetricType, name string) (uint32, error) {
	var id uint32
	err := Status(proxyDefineMetric(uint32(kind), strPtr(name), uint32(len(name)), &id)).Err()
	return id, err
}

func (wasmHost) IncrementMetric(id uint32, delta int64) error {
	return Status(proxyIncrementMetric(id, delta)).Err()
}

func (wasmHost) RecordMetric(id uint32, value uint64) error {
	return Status(proxyRecordMetric(id, value)).Err()
}
