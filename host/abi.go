package host

// Constants of the proxy-wasm ABI v0.2.1, named as in the spec
// (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1#types).

// status is proxy_status_t, the result of every host function.
type status = uint32

const (
	statusOK                  status = 0
	statusNotFound            status = 1
	statusBadArgument         status = 2
	statusSerializationFailed status = 3
	statusParseFailure        status = 4
	statusInvalidMemoryAccess status = 6
	statusEmpty               status = 7
	statusCASMismatch         status = 8
	statusInternalFailure     status = 10
	statusUnimplemented       status = 12
)

// proxy_action_t (Envoy's wider FilterHeadersStatus/FilterDataStatus values
// are all "stop" when non-zero, which is how we treat them).
const (
	actionContinue = 0
	actionPause    = 1
)

// proxy_buffer_type_t.
const (
	bufferHTTPRequestBody      = 0
	bufferHTTPResponseBody     = 1
	bufferDownstreamData       = 2
	bufferUpstreamData         = 3
	bufferHTTPCallResponseBody = 4
	bufferGRPCCallMessage      = 5
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
	bufferForeignFunctionArgs  = 8
)

// proxy_map_type_t.
const (
	mapHTTPRequestHeaders       = 0
	mapHTTPRequestTrailers      = 1
	mapHTTPResponseHeaders      = 2
	mapHTTPResponseTrailers     = 3
	mapGRPCInitialMetadata      = 4
	mapGRPCTrailingMetadata     = 5
	mapHTTPCallResponseHeaders  = 6
	mapHTTPCallResponseTrailers = 7
)

// proxy_stream_type_t.
const (
	streamHTTPRequest  = 0
	streamHTTPResponse = 1
	streamDownstream   = 2
	streamUpstream     = 3
)

// proxy_metric_type_t.
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// proxy_log_level_t.
const (
	logTrace    = 0
	logDebug    = 1
	logInfo     = 2
	logWarn     = 3
	logError    = 4
	logCritical = 5
)

// ABI version markers, exported (never called) by the guest.
const (
	abiMarker021 = "proxy_abi_version_0_2_1"
	abiMarker020 = "proxy_abi_version_0_2_0"
)
