// A proxy-wasm filter written with another SDK (AssemblyScript +
// @solo-io/proxy-runtime, ABI 0.2.0) for the host's conformance tests.
// Request header x-as: "deny" -> 403 local reply; "callout" -> pause, call
// upstream "backend", resume with x-as-callout; otherwise add x-as-path.
// Response headers get x-as-resp: <plugin configuration>.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, HeaderPair, Headers,
} from "@solo-io/proxy-runtime";

class ConfRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Conf(context_id, this);
  }
}

function pair(k: string, v: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(k), String.UTF8.encode(v));
}

class Conf extends Context {
  constructor(context_id: u32, root_context: ConfRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const mode = stream_context.headers.request.get("x-as");
    if (mode == "deny") {
      const h: Headers = [];
      h.push(pair("x-as-denied", "1"));
      send_local_response(403, "denied by as", String.UTF8.encode("as says no"), h, GrpcStatusValues.Unknown);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (mode == "callout") {
      const h: Headers = [];
      h.push(pair(":method", "GET"));
      h.push(pair(":path", "/callout?from=as"));
      h.push(pair(":authority", "as.test"));
      this.root_context.httpCall("backend", h, new ArrayBuffer(0), [], 5000, this,
        (origin: Context, headers: u32, body_size: usize, trailers: u32): void => {
          const status = stream_context.headers.http_callback.get(":status");
          stream_context.headers.request.add("x-as-callout", status + "/" + headers.toString());
          origin.continueRequest();
        });
      return FilterHeadersStatusValues.StopIteration;
    }
    stream_context.headers.request.add("x-as-path", stream_context.headers.request.get(":path"));
    return FilterHeadersStatusValues.Continue;
  }
  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-as-resp", this.root_context.getConfiguration());
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32): RootContext => { return new ConfRoot(context_id); }, "as_root");
