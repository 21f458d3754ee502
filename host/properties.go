package host

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Properties follow Envoy's attributes
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes):
// a path is its segments joined by NUL ("request\x00path"); strings are raw
// bytes, integers 8-byte little-endian, booleans one byte, times and
// durations int64 nanoseconds, maps serialized like header maps. A dotted
// path ("request.path") is accepted too when it contains no NUL.

type propID uint8

const (
	propRequestPath propID = iota + 1
	propRequestURLPath
	propRequestHost
	propRequestScheme
	propRequestMethod
	propRequestHeaders
	propRequestReferer
	propRequestUserAgent
	propRequestTime
	propRequestID
	propRequestProtocol
	propRequestQuery
	propRequestDuration
	propRequestSize
	propResponseCode
	propResponseHeaders
	propSourceAddress
	propSourcePort
	propDestinationAddress
	propDestinationPort
	propConnectionMTLS
	propConnectionTLSVersion
	propConnectionSNI
	propPluginName
	propPluginRootID
	propPluginVMID
	propRouteName
	propClusterName
	propUpstreamAddress
	propUpstreamPort
)

var propIDs = func() map[string]propID {
	names := map[string]propID{
		"request.path": propRequestPath, "request.url_path": propRequestURLPath,
		"request.host": propRequestHost, "request.scheme": propRequestScheme,
		"request.method": propRequestMethod, "request.headers": propRequestHeaders,
		"request.referer": propRequestReferer, "request.useragent": propRequestUserAgent,
		"request.time": propRequestTime, "request.id": propRequestID,
		"request.protocol": propRequestProtocol, "request.query": propRequestQuery,
		"request.duration": propRequestDuration, "request.size": propRequestSize,
		"response.code": propResponseCode, "response.headers": propResponseHeaders,
		"source.address": propSourceAddress, "source.port": propSourcePort,
		"destination.address": propDestinationAddress, "destination.port": propDestinationPort,
		"connection.mtls": propConnectionMTLS, "connection.tls_version": propConnectionTLSVersion,
		"connection.requested_server_name": propConnectionSNI,
		"plugin_name":                      propPluginName, "plugin_root_id": propPluginRootID, "plugin_vm_id": propPluginVMID,
		"route_name": propRouteName, "xds.route_name": propRouteName,
		"cluster_name": propClusterName, "xds.cluster_name": propClusterName,
		"upstream.address": propUpstreamAddress, "upstream.port": propUpstreamPort,
	}
	m := make(map[string]propID, 2*len(names))
	for k, id := range names {
		m[k] = id
		m[strings.ReplaceAll(k, ".", "\x00")] = id
	}
	return m
}()

// maxPropertyPath bounds a property path read from the guest;
// maxPropertyBytes the values one context may set.
const (
	maxPropertyPath  = 4096
	maxPropertyBytes = 4 << 20
)

// property returns the value of a known property, as a string (str) or
// bytes; found is false when the path is unknown or has no value here.
func (v *vm) property(path []byte) (str string, b []byte, isStr bool, found bool) {
	// Values the filter set itself come first (Envoy keeps them in filter state).
	if s := v.cur; s != nil && s.props != nil {
		if val, ok := s.props[string(path)]; ok {
			return "", val, false, true
		}
	}
	if v.rootProps != nil {
		if val, ok := v.rootProps[string(path)]; ok {
			return "", val, false, true
		}
	}
	id, ok := propIDs[string(path)]
	if !ok {
		return "", nil, false, false
	}
	p := v.p
	switch id {
	case propPluginName:
		return p.cfg.Name, nil, true, true
	case propPluginRootID:
		return p.cfg.RootID, nil, true, true
	case propPluginVMID:
		return p.cfg.VMID, nil, true, true
	}
	s := v.cur
	if s == nil {
		return "", nil, false, false
	}
	hdr := func(k string) (string, []byte, bool, bool) {
		val, ok := getFirst(s.reqHdr.kv, k)
		return val, nil, true, ok
	}
	switch id {
	case propRequestPath:
		return hdr(":path")
	case propRequestURLPath:
		val, ok := getFirst(s.reqHdr.kv, ":path")
		if i := strings.IndexByte(val, '?'); i >= 0 {
			val = val[:i]
		}
		return val, nil, true, ok
	case propRequestQuery:
		val, ok := getFirst(s.reqHdr.kv, ":path")
		if i := strings.IndexByte(val, '?'); i >= 0 {
			return val[i+1:], nil, true, ok
		}
		return "", nil, true, ok
	case propRequestHost:
		return hdr(":authority")
	case propRequestScheme:
		return hdr(":scheme")
	case propRequestMethod:
		return hdr(":method")
	case propRequestReferer:
		return hdr("referer")
	case propRequestUserAgent:
		return hdr("user-agent")
	case propRequestID:
		return hdr("x-request-id")
	case propRequestHeaders:
		return "", appendMap(nil, s.reqHdr.kv), false, true
	case propRequestProtocol:
		return s.info.proto, nil, true, true
	case propRequestTime:
		return "", le64(uint64(s.info.start.UnixNano())), false, true
	case propRequestDuration:
		return "", le64(uint64(time.Since(s.info.start))), false, true
	case propRequestSize:
		if s.info.size < 0 {
			return "", nil, false, false
		}
		return "", le64(uint64(s.info.size)), false, true
	case propResponseCode:
		if !s.respHdr.ok {
			return "", nil, false, false
		}
		val, _ := getFirst(s.respHdr.kv, ":status")
		c, err := strconv.Atoi(val)
		if err != nil {
			return "", nil, false, false
		}
		return "", le64(uint64(c)), false, true
	case propResponseHeaders:
		if !s.respHdr.ok {
			return "", nil, false, false
		}
		return "", appendMap(nil, s.respHdr.kv), false, true
	case propSourceAddress:
		return s.info.remoteAddr, nil, true, s.info.remoteAddr != ""
	case propSourcePort:
		return portOf(s.info.remoteAddr)
	case propDestinationAddress:
		return s.info.localAddr, nil, true, s.info.localAddr != ""
	case propDestinationPort:
		return portOf(s.info.localAddr)
	case propConnectionMTLS:
		m := s.info.tls != nil && len(s.info.tls.PeerCertificates) > 0
		if m {
			return "", []byte{1}, false, true
		}
		return "", []byte{0}, false, true
	case propConnectionTLSVersion:
		if s.info.tls == nil {
			return "", nil, false, false
		}
		return tlsVersion(s.info.tls.Version), nil, true, true
	case propConnectionSNI:
		if s.info.tls == nil {
			return "", nil, false, false
		}
		return s.info.tls.ServerName, nil, true, true
	}
	if ri := s.info.route; ri != nil {
		switch id {
		case propRouteName:
			return ri.Route, nil, true, ri.Route != ""
		case propClusterName:
			return ri.Cluster, nil, true, ri.Cluster != ""
		case propUpstreamAddress:
			up := ri.Upstream()
			return up, nil, true, up != ""
		case propUpstreamPort:
			return portOf(ri.Upstream())
		}
	}
	return "", nil, false, false
}

func le64(x uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, x)
	return b
}

func portOf(addr string) (string, []byte, bool, bool) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, false, false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", nil, false, false
	}
	return "", le64(n), false, true
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

func hGetProperty(v *vm, mem api.Memory, st []uint64) status {
	path, ok := mem.Read(u32(st, 0), u32(st, 1))
	if !ok {
		return statusInvalidMemoryAccess
	}
	pp, lp := u32(st, 2), u32(st, 3)
	if !inBounds(mem, pp, 4) || !inBounds(mem, lp, 4) {
		return statusInvalidMemoryAccess
	}
	if len(path) > maxPropertyPath {
		return statusNotFound
	}
	str, b, isStr, found := v.property(path)
	if !found {
		return statusNotFound
	}
	if isStr {
		return writeOut(v, mem, str, pp, lp)
	}
	return writeOut(v, mem, b, pp, lp)
}

// hSetProperty stores a value the filter can read back with
// proxy_get_property: per stream in a stream context, per VM in the root
// context. Built-in properties are read-only (NOT_FOUND, as Envoy answers).
func hSetProperty(v *vm, mem api.Memory, st []uint64) status {
	path, ok1 := mem.Read(u32(st, 0), u32(st, 1))
	val, ok2 := mem.Read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	if len(path) == 0 || len(path) > maxPropertyPath || len(val) > v.p.limits.MaxValueBytes {
		return statusBadArgument
	}
	if _, builtin := propIDs[string(path)]; builtin {
		return statusNotFound
	}
	var m *map[string][]byte
	if s := v.cur; s != nil {
		m = &s.props
	} else {
		m = &v.rootProps
	}
	if *m == nil {
		*m = make(map[string][]byte)
	}
	if _, exists := (*m)[string(path)]; !exists && len(*m) >= 256 {
		return statusBadArgument
	}
	total := len(val)
	for k, x := range *m {
		if k != string(path) {
			total += len(k) + len(x)
		}
	}
	if total > maxPropertyBytes {
		return statusBadArgument
	}
	(*m)[string(path)] = append([]byte(nil), val...)
	return statusOK
}
