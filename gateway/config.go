package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Parse to fields left out of the YAML.
const (
	DefaultDrainTimeout          = 30 * time.Second
	DefaultConnectTimeout        = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleTimeout           = 90 * time.Second
	// MaxConfigBytes bounds the YAML file; configs are small, and YAML aliases can
	// expand a small file into a huge tree.
	MaxConfigBytes = 4 << 20
	// MaxPluginDataBytes bounds a configuration converted from YAML to JSON.
	MaxPluginDataBytes = 1 << 20
)

// Config is the gateway's YAML configuration. Parse fills it and applies defaults;
// Validate checks it. Paths (plugin wasm, TLS files) are relative to BaseDir.
type Config struct {
	// Admin is the admin listener (/ready, /metrics, /config_dump); none when Address is "".
	Admin Admin `yaml:"admin" json:"admin"`
	// DrainTimeout bounds how long shutdown and reload wait for requests in flight.
	DrainTimeout Duration `yaml:"drain_timeout" json:"drain_timeout"`
	// AccessLog logs one structured line per request (never the query or headers).
	AccessLog *bool `yaml:"access_log" json:"access_log"`
	// CacheDir is wazero's on-disk compilation cache; "" means none.
	CacheDir  string     `yaml:"cache_dir" json:"cache_dir,omitempty"`
	Listeners []Listener `yaml:"listeners" json:"listeners"`
	Upstreams []Upstream `yaml:"upstreams" json:"upstreams"`
	Plugins   []Plugin   `yaml:"plugins" json:"plugins"`

	// BaseDir resolves relative paths; LoadFile sets it to the config file's directory.
	BaseDir string `yaml:"-" json:"-"`
}

// Admin is the admin listener.
type Admin struct {
	Address string `yaml:"address" json:"address,omitempty"`
}

// Listener is one address the gateway serves, with its routes.
type Listener struct {
	// Name labels metrics and logs; defaults to the address.
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address" json:"address"`
	TLS     *TLS   `yaml:"tls" json:"tls,omitempty"`
	// Plugins run, in order, for every routed request of this listener, before the route's.
	Plugins []string `yaml:"plugins" json:"plugins,omitempty"`
	Routes  []Route  `yaml:"routes" json:"routes"`
}

// TLS is a certificate and key in PEM files; both are reread on reload.
type TLS struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// Route sends requests whose path starts with Prefix to Upstream. The longest
// matching prefix wins. A prefix matches whole path segments: "/api" matches
// "/api" and "/api/x" but not "/apix"; "/api/" matches "/api/x" only.
type Route struct {
	Prefix   string `yaml:"prefix" json:"prefix"`
	Upstream string `yaml:"upstream" json:"upstream"`
	// Plugins run after the listener's plugins.
	Plugins []string `yaml:"plugins" json:"plugins,omitempty"`
}

// Upstream is a named backend; requests are spread round-robin over URLs.
type Upstream struct {
	Name string   `yaml:"name" json:"name"`
	URLs []string `yaml:"urls" json:"urls"`
	// PreserveHost forwards the client's Host header instead of the upstream's host.
	PreserveHost bool     `yaml:"preserve_host" json:"preserve_host,omitempty"`
	Timeouts     Timeouts `yaml:"timeouts" json:"timeouts"`
}

// Timeouts of an upstream. Zero values get the defaults; there is no overall
// request timeout, so streamed responses are not cut.
type Timeouts struct {
	Connect        Duration `yaml:"connect" json:"connect"`
	ResponseHeader Duration `yaml:"response_header" json:"response_header"`
	Idle           Duration `yaml:"idle" json:"idle"`
}

// Plugin is a proxy-wasm plugin: a module plus its configuration.
type Plugin struct {
	Name string `yaml:"name" json:"name"`
	// Path is a .wasm file (relative to BaseDir) or an oci:// reference.
	Path string `yaml:"path" json:"path"`
	// SHA256 pins the module bytes (hex); a mismatch fails the load.
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
	// PullPolicy applies to oci:// paths: "IfNotPresent" (default; "Always" for :latest) or "Always".
	PullPolicy string `yaml:"pull_policy" json:"pull_policy,omitempty"`
	RootID     string `yaml:"root_id" json:"root_id,omitempty"`
	VMID       string `yaml:"vm_id" json:"vm_id,omitempty"`
	VMs        int    `yaml:"vms" json:"vms,omitempty"`
	FailOpen   bool   `yaml:"fail_open" json:"fail_open"`
	// Configuration is the plugin configuration (proxy-wasm buffer 7).
	Configuration PluginData `yaml:"configuration" json:"configuration,omitzero"`
	// VMConfiguration is the VM configuration (proxy-wasm buffer 6).
	VMConfiguration PluginData `yaml:"vm_configuration" json:"vm_configuration,omitzero"`
	// Upstreams the plugin may call with proxy_http_call, by upstream name.
	Upstreams []string `yaml:"upstreams" json:"upstreams,omitempty"`
	// MaxCallbackTime bounds one guest callback (default 10s); "0s" turns the bound off, which
	// roughly halves the CPU a filter costs (wazero then skips its per-loop cancellation
	// checks) but lets a runaway guest loop pin its VM. For trusted modules only.
	MaxCallbackTime *Duration `yaml:"max_callback_time" json:"max_callback_time,omitempty"`
}

// PluginData is configuration bytes handed to a plugin. In YAML, a string is
// passed verbatim (a string starting with '{' or '[' must be valid JSON), and a
// mapping or sequence is converted to JSON with its key order kept.
type PluginData struct {
	Bytes []byte
	node  *yaml.Node
}

// UnmarshalYAML keeps the node; Parse converts it so errors can name the field.
func (d *PluginData) UnmarshalYAML(n *yaml.Node) error {
	d.node = n
	return nil
}

// MarshalJSON shows JSON configuration as JSON and anything else as a string.
func (d PluginData) MarshalJSON() ([]byte, error) {
	if len(d.Bytes) > 0 && json.Valid(d.Bytes) {
		return d.Bytes, nil
	}
	return json.Marshal(string(d.Bytes))
}

// IsZero reports an empty configuration (for omitzero).
func (d PluginData) IsZero() bool { return len(d.Bytes) == 0 }

// Duration is a time.Duration written as a Go duration string ("5s", "1m30s").
type Duration time.Duration

// UnmarshalYAML parses a duration string, refusing bare numbers (unit-less values are ambiguous).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as \"5s\", got a %s", n.Line, kindName(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration; write e.g. \"500ms\", \"5s\" or \"1m\"", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative; write a positive value such as \"5s\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string ("5s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// LoadFile reads, parses and validates a config file; BaseDir is the file's directory.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	defer f.Close()
	data, err := readLimited(f, MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg.BaseDir = abs
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML into a Config and applies defaults. It checks syntax, field
// names and value types; cross-references are Validate's job.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%w: config is %d bytes, more than the %d allowed", ErrInvalidConfig, len(data), MaxConfigBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: config is empty; start from the example in docs/CONFIG.md", ErrInvalidConfig)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: config has no content; start from the example in docs/CONFIG.md", ErrInvalidConfig)
		}
		return nil, &ValidationError{Problems: explainYAMLError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%w: the file holds more than one YAML document; keep one (remove the \"---\" separators)", ErrInvalidConfig)
	}
	var errs []string
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		for _, f := range []struct {
			name string
			d    *PluginData
		}{{"configuration", &p.Configuration}, {"vm_configuration", &p.VMConfiguration}} {
			if err := f.d.convert(); err != nil {
				errs = append(errs, fmt.Sprintf("plugins[%d].%s: %v", i, f.name, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Problems: errs}
	}
	cfg.setDefaults()
	return &cfg, nil
}

func (c *Config) setDefaults() {
	if c.DrainTimeout == 0 {
		c.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if c.AccessLog == nil {
		t := true
		c.AccessLog = &t
	}
	for i := range c.Listeners {
		if c.Listeners[i].Name == "" {
			c.Listeners[i].Name = c.Listeners[i].Address
		}
	}
	for i := range c.Upstreams {
		t := &c.Upstreams[i].Timeouts
		if t.Connect == 0 {
			t.Connect = Duration(DefaultConnectTimeout)
		}
		if t.ResponseHeader == 0 {
			t.ResponseHeader = Duration(DefaultResponseHeaderTimeout)
		}
		if t.Idle == 0 {
			t.Idle = Duration(DefaultIdleTimeout)
		}
	}
}

// convert turns the YAML node kept by UnmarshalYAML into bytes.
func (d *PluginData) convert() error {
	n := d.node
	d.node = nil
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			d.Bytes = nil
			return nil
		}
		if n.Tag != "!!str" {
			return fmt.Errorf("line %d: %s is %s; write a JSON string in quotes, or a YAML mapping", n.Line, n.Value, tagName(n.Tag))
		}
		s := strings.TrimSpace(n.Value)
		if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
			if err := checkJSON([]byte(s)); err != nil {
				return fmt.Errorf("line %d: the string looks like JSON but is not valid JSON (%v); fix it, or write the configuration as a YAML mapping", n.Line, err)
			}
		}
		d.Bytes = []byte(n.Value)
		return nil
	}
	var buf bytes.Buffer
	if err := nodeToJSON(&buf, n, 0); err != nil {
		return err
	}
	d.Bytes = buf.Bytes()
	return nil
}

func checkJSON(b []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

const maxJSONDepth = 64

// nodeToJSON writes a YAML node as JSON, keeping mapping key order.
func nodeToJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("line %d: configuration nests deeper than %d levels", n.Line, maxJSONDepth)
	}
	if buf.Len() > MaxPluginDataBytes {
		// YAML aliases can expand a few lines into gigabytes ("billion laughs").
		return fmt.Errorf("line %d: configuration expands to more than %d bytes of JSON; use fewer YAML aliases", n.Line, MaxPluginDataBytes)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nodeToJSON(buf, n.Alias, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: empty document", n.Line)
		}
		return nodeToJSON(buf, n.Content[0], depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Tag == "!!merge" {
				return fmt.Errorf("line %d: YAML merge keys (<<) are not supported in plugin configuration; write the keys out", k.Line)
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a plain string, not a %s", k.Line, kindName(k))
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: key %q appears twice; keep one", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := nodeToJSON(buf, v, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeToJSON(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		switch n.Tag {
		case "!!null":
			buf.WriteString("null")
			return nil
		case "!!str", "!!binary", "!!timestamp":
			v = n.Value
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			v = b
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return fmt.Errorf("line %d: integer %q does not fit in 64 bits; quote it to pass it as a string", n.Line, n.Value)
			}
			v = i
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			v = f
		default:
			return fmt.Errorf("line %d: YAML tag %q has no JSON form; quote the value", n.Line, n.Tag)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %q has no JSON form (%v); quote it to pass it as a string", n.Line, n.Value, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

var (
	unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type gateway\.(\w+)`)
	sectionNames   = map[string]string{
		"Config": "the top level", "Admin": "admin", "Listener": "a listener", "TLS": "tls",
		"Route": "a route", "Upstream": "an upstream", "Timeouts": "timeouts", "Plugin": "a plugin",
	}
	sectionTypes = map[string]reflect.Type{
		"Config": reflect.TypeFor[Config](), "Admin": reflect.TypeFor[Admin](),
		"Listener": reflect.TypeFor[Listener](), "TLS": reflect.TypeFor[TLS](),
		"Route": reflect.TypeFor[Route](), "Upstream": reflect.TypeFor[Upstream](),
		"Timeouts": reflect.TypeFor[Timeouts](), "Plugin": reflect.TypeFor[Plugin](),
	}
)

// explainYAMLError rewrites yaml's Go-flavoured messages ("field x not found in
// type gateway.Listener", "cannot unmarshal !!map into []gateway.Route") into
// ones that name the YAML section and say what fits.
func explainYAMLError(err error) []string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			known := yamlFields(sectionTypes[m[3]])
			msg := fmt.Sprintf("line %s: unknown field %q in %s; the fields there are: %s", m[1], m[2], sectionNames[m[3]], strings.Join(known, ", "))
			if s := closest(m[2], known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			lines = append(lines, msg)
			continue
		}
		if m := typeErrorRE.FindStringSubmatch(e); m != nil {
			got := tagName("!!" + m[2])
			if m[3] != "" {
				got = fmt.Sprintf("%s %q", got, m[3])
			}
			lines = append(lines, fmt.Sprintf("line %s: found %s where %s belongs", m[1], got, goTypeName(m[4])))
			continue
		}
		lines = append(lines, e)
	}
	return lines
}

var typeErrorRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) (?:`(.*)` )?into (\\S+)$")

func tagName(tag string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a " + strings.TrimPrefix(tag, "!!")
}

func goTypeName(t string) string {
	if elem, ok := strings.CutPrefix(t, "[]"); ok {
		if n, ok := strings.CutPrefix(elem, "gateway."); ok {
			return "a list of " + strings.ToLower(n) + "s"
		}
		return "a list of " + elem + "s"
	}
	switch t {
	case "int":
		return "a whole number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "*bool":
		return "true or false"
	}
	if n, ok := strings.CutPrefix(strings.TrimPrefix(t, "*"), "gateway."); ok {
		return "a mapping (" + strings.ToLower(n) + ")"
	}
	return t
}

func yamlFields(t reflect.Type) []string {
	if t == nil {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
