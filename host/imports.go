package host

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// This file registers the whole `env` host module: every import of the
// proxy-wasm ABI v0.2.1, in the order of the spec
// (https://github.com/proxy-wasm/spec/blob/main/abi-versions/v0.2.1/README.md),
// each with its parameter names and the spec section it implements. Imports
// the host does not support (gRPC, foreign functions) return UNIMPLEMENTED.
// All handlers are api.GoModuleFunc (no reflection) and bounds-check every
// guest pointer and length (INVALID_MEMORY_ACCESS).

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one import: name, parameter names and types, and the handler,
// which returns a proxy_status_t.
type hostFunc struct {
	name    string
	section string // anchor in the spec
	params  []string
	types   []api.ValueType // nil: all i32
	fn      func(v *vm, mem api.Memory, st []uint64) status
}

var envImports = []hostFunc{
	// #Logging
	{"proxy_log", "#proxy_log", []string{"log_level", "message_data", "message_size"}, nil, hLog},
	{"proxy_get_log_level", "#proxy_get_log_level", []string{"return_log_level"}, nil, hGetLogLevel},
	// #Context-lifecycle
	{"proxy_done", "#proxy_done", nil, nil, hDone},
	{"proxy_set_effective_context", "#proxy_set_effective_context", []string{"context_id"}, nil, hSetEffectiveContext},
	// #Clocks
	{"proxy_get_current_time_nanoseconds", "#proxy_get_current_time_nanoseconds", []string{"return_time"}, nil, hGetCurrentTime},
	// #Timers
	{"proxy_set_tick_period_milliseconds", "#proxy_set_tick_period_milliseconds", []string{"tick_period"}, nil, hSetTickPeriod},
	// #Buffers
	{"proxy_set_buffer_bytes", "#proxy_set_buffer_bytes", []string{"buffer_id", "start", "size", "value_data", "value_size"}, nil, hSetBufferBytes},
	{"proxy_get_buffer_bytes", "#proxy_get_buffer_bytes", []string{"buffer_id", "start", "max_size", "return_value_data", "return_value_size"}, nil, hGetBufferBytes},
	{"proxy_get_buffer_status", "#proxy_get_buffer_status", []string{"buffer_id", "return_buffer_size", "return_unused"}, nil, hGetBufferStatus},
	// #HTTP-fields
	{"proxy_get_header_map_size", "#proxy_get_header_map_size", []string{"map_id", "return_serialized_pairs_size"}, nil, hGetHeaderMapSize},
	{"proxy_get_header_map_pairs", "#proxy_get_header_map_pairs", []string{"map_id", "return_serialized_pairs_data", "return_serialized_pairs_size"}, nil, hGetHeaderMapPairs},
	{"proxy_set_header_map_pairs", "#proxy_set_header_map_pairs", []string{"map_id", "serialized_pairs_data", "serialized_pairs_size"}, nil, hSetHeaderMapPairs},
	{"proxy_get_header_map_value", "#proxy_get_header_map_value", []string{"map_id", "key_data", "key_size", "return_value_data", "return_value_size"}, nil, hGetHeaderMapValue},
	{"proxy_add_header_map_value", "#proxy_add_header_map_value", []string{"map_id", "key_data", "key_size", "value_data", "value_size"}, nil, hAddHeaderMapValue},
	{"proxy_replace_header_map_value", "#proxy_replace_header_map_value", []string{"map_id", "key_data", "key_size", "value_data", "value_size"}, nil, hReplaceHeaderMapValue},
	{"proxy_remove_header_map_value", "#proxy_remove_header_map_value", []string{"map_id", "key_data", "key_size"}, nil, hRemoveHeaderMapValue},
	// #Common-stream-operations
	{"proxy_continue_stream", "#proxy_continue_stream", []string{"stream_type"}, nil, hContinueStream},
	{"proxy_close_stream", "#proxy_close_stream", []string{"stream_type"}, nil, hCloseStream},
	{"proxy_get_status", "#proxy_get_status", []string{"return_status_code", "return_status_message_data", "return_status_message_size"}, nil, hGetStatus},
	// #HTTP
	{"proxy_send_local_response", "#proxy_send_local_response", []string{"status_code", "status_code_details_data", "status_code_details_size", "body_data", "body_size", "serialized_headers_data", "serialized_headers_size", "grpc_status"}, nil, hSendLocalResponse},
	// #HTTP-calls
	{"proxy_http_call", "#proxy_http_call", []string{"upstream_name_data", "upstream_name_size", "serialized_headers_data", "serialized_headers_size", "body_data", "body_size", "serialized_trailers_data", "serialized_trailers_size", "timeout", "return_call_id"}, nil, hHTTPCall},
	// #gRPC-calls (unsupported)
	{"proxy_grpc_call", "#proxy_grpc_call", []string{"upstream_name_data", "upstream_name_size", "service_name_data", "service_name_size", "method_name_data", "method_name_size", "serialized_initial_metadata_data", "serialized_initial_metadata_size", "message_data", "message_size", "timeout", "return_call_id"}, nil, hUnimplemented},
	{"proxy_grpc_stream", "#proxy_grpc_stream", []string{"upstream_name_data", "upstream_name_size", "service_name_data", "service_name_size", "method_name_data", "method_name_size", "serialized_initial_metadata_data", "serialized_initial_metadata_size", "return_stream_id"}, nil, hUnimplemented},
	{"proxy_grpc_send", "#proxy_grpc_send", []string{"stream_id", "message_data", "message_size", "end_stream"}, nil, hUnimplemented},
	{"proxy_grpc_cancel", "#proxy_grpc_cancel", []string{"call_or_stream_id"}, nil, hUnimplemented},
	{"proxy_grpc_close", "#proxy_grpc_close", []string{"call_or_stream_id"}, nil, hUnimplemented},
	// #Shared-Key-Value-Store
	{"proxy_set_shared_data", "#proxy_set_shared_data", []string{"key_data", "key_size", "value_data", "value_size", "cas"}, nil, hSetSharedData},
	{"proxy_get_shared_data", "#proxy_get_shared_data", []string{"key_data", "key_size", "return_value_data", "return_value_size", "return_cas"}, nil, hGetSharedData},
	// #Shared-Queues
	{"proxy_register_shared_queue", "#proxy_register_shared_queue", []string{"name_data", "name_size", "return_queue_id"}, nil, hRegisterSharedQueue},
	{"proxy_resolve_shared_queue", "#proxy_resolve_shared_queue", []string{"vm_id_data", "vm_id_size", "name_data", "name_size", "return_queue_id"}, nil, hResolveSharedQueue},
	{"proxy_enqueue_shared_queue", "#proxy_enqueue_shared_queue", []string{"queue_id", "value_data", "value_size"}, nil, hEnqueueSharedQueue},
	{"proxy_dequeue_shared_queue", "#proxy_dequeue_shared_queue", []string{"queue_id", "return_value_data", "return_value_size"}, nil, hDequeueSharedQueue},
	// #Metrics
	{"proxy_define_metric", "#proxy_define_metric", []string{"metric_type", "name_data", "name_size", "return_metric_id"}, nil, hDefineMetric},
	{"proxy_record_metric", "#proxy_record_metric", []string{"metric_id", "value"}, []api.ValueType{i32, i64}, hRecordMetric},
	{"proxy_increment_metric", "#proxy_increment_metric", []string{"metric_id", "delta"}, []api.ValueType{i32, i64}, hIncrementMetric},
	{"proxy_get_metric", "#proxy_get_metric", []string{"metric_id", "return_value"}, nil, hGetMetric},
	// #Properties
	{"proxy_get_property", "#proxy_get_property", []string{"path_data", "path_size", "return_value_data", "return_value_size"}, nil, hGetProperty},
	{"proxy_set_property", "#proxy_set_property", []string{"path_data", "path_size", "value_data", "value_size"}, nil, hSetProperty},
	// #Foreign-function-interface-FFI (unsupported)
	{"proxy_call_foreign_function", "#proxy_call_foreign_function", []string{"name_data", "name_size", "arguments_data", "arguments_size", "return_results_data", "return_results_size"}, nil, hUnimplemented},
}

// registerEnv instantiates the env module in r.
func registerEnv(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("env")
	for i := range envImports {
		h := &envImports[i]
		types := h.types
		if types == nil {
			types = make([]api.ValueType, len(h.params))
			for j := range types {
				types[j] = i32
			}
		}
		if len(types) != len(h.params) {
			return fmt.Errorf("host: %s: %d types for %d params", h.name, len(types), len(h.params))
		}
		fn := h.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, st []uint64) {
				v := vmFrom(ctx)
				if v == nil {
					st[0] = uint64(statusInternalFailure)
					return
				}
				st[0] = uint64(fn(v, m.Memory(), st))
			}), types, []api.ValueType{i32}).
			WithParameterNames(h.params...).
			WithResultNames("status").
			Export(h.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func hUnimplemented(*vm, api.Memory, []uint64) status { return statusUnimplemented }

// u32 returns parameter i as an i32 value.
func u32(st []uint64, i int) uint32 { return uint32(st[i]) }
