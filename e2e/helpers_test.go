package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestLoginFormAction(t *testing.T) {
	tests := []struct {
		name    string
		page    string
		want    string // prefix of the action
		wantErr string
	}{
		{name: "keycloak page", page: readFile(t, "testdata/keycloak-login.html"),
			want: "http://127.0.0.1:18180/realms/gatewarden/login-actions/authenticate?session_code="},
		{name: "entities decoded", page: `<form id="kc-form-login" method="post" action="http://127.0.0.1:1/a?x=1&amp;y=2">`,
			want: "http://127.0.0.1:1/a?x=1&y=2"},
		{name: "attribute order", page: `<FORM action="http://127.0.0.1:1/b" id="kc-form-login">`, want: "http://127.0.0.1:1/b"},
		{name: "no form", page: `<html><p>Invalid parameter: redirect_uri</p></html>`, wantErr: "no Keycloak login form"},
		{name: "other form", page: `<form id="other" action="http://127.0.0.1:1/">`, wantErr: "no Keycloak login form"},
		{name: "relative action", page: `<form id="kc-form-login" action="/x">`, wantErr: "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoginFormAction([]byte(tt.page))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tt.want) || strings.Contains(got, "&amp;") {
				t.Fatalf("action = %q, want prefix %q and no entities", got, tt.want)
			}
		})
	}
}

func TestLoginPageError(t *testing.T) {
	if got := LoginPageError([]byte(readFile(t, "testdata/keycloak-login-error.html"))); got != "Invalid username or password." {
		t.Fatalf("LoginPageError = %q", got)
	}
	if got := LoginPageError([]byte("<html></html>")); !strings.Contains(got, "no error message") {
		t.Fatalf("LoginPageError(empty) = %q", got)
	}
}

func TestDecodeClaims(t *testing.T) {
	// {"alg":"RS256","kid":"k1"} . {"sub":"u","aud":["a"]} . sig
	tok := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1IiwiYXVkIjpbImEiXX0.c2ln"
	c, err := DecodeClaims(tok)
	if err != nil || c["sub"] != "u" {
		t.Fatalf("DecodeClaims = %v, %v", c, err)
	}
	if KeyID(tok) != "k1" {
		t.Fatalf("KeyID = %q", KeyID(tok))
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a.bm90IGpzb24.c"} {
		if _, err := DecodeClaims(bad); err == nil {
			t.Errorf("DecodeClaims(%q) succeeded", bad)
		}
	}
}

// TestRenderEnvoyConfig checks that the repo's envoy.yaml keeps the shape the e2e tests patch.
func TestRenderEnvoyConfig(t *testing.T) {
	base := readFile(t, "../envoy.yaml")
	out, err := RenderEnvoyConfig(EnvoyConfig{
		Base: []byte(base), AdminPort: 1001, ListenerPort: 1002, KeycloakAddr: "127.0.0.1:1003",
		BackendPort: 1004, WasmPath: "/abs/gatewarden.wasm", PluginConfig: []byte(`{"providers":[]}`),
		FailurePolicy: "FAIL_OPEN",
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"port_value: 1001", "port_value: 1002", "port_value: 1003", "port_value: 1004",
		"filename: /abs/gatewarden.wasm", `value: '{"providers":[]}'`, "failure_policy: FAIL_OPEN"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered config lacks %q", want)
		}
	}
	for _, p := range []string{"9901", "10000", "8080", "8000"} {
		if strings.Contains(s, "port_value: "+p+"\n") {
			t.Errorf("rendered config still has port %s", p)
		}
	}
	if strings.Contains(s, "0.0.0.0") {
		t.Error("rendered config has a non-loopback address")
	}
	if _, err := RenderEnvoyConfig(EnvoyConfig{Base: []byte("admin: {}\n"), KeycloakAddr: "127.0.0.1:1"}); err == nil {
		t.Error("RenderEnvoyConfig accepted a config without listeners")
	}
}

func TestSwitchDownUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	sw, err := NewSwitch(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	url := "http://" + sw.Addr() + "/"
	get := func() error {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("through the switch: %v", err)
	}
	sw.Down()
	if _, err := net.Dial("tcp", sw.Addr()); err == nil {
		t.Fatal("switch down still accepts connections")
	}
	if err := sw.Up(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProcessStopAndReap(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProcess("sleeper", dir+"/sleeper.log", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/sleeper.log.pid"); err != nil {
		t.Fatalf("no pid file: %v", err)
	}
	if got := ReapLeftovers(dir); len(got) != 1 {
		t.Fatalf("ReapLeftovers = %v, want the sleeper", got)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reaped process still runs")
	}
	q, err := StartProcess("sleeper2", dir+"/sleeper2.log", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	q.Stop(2 * time.Second)
	if !q.Exited() {
		t.Fatal("Stop left the process running")
	}
	if got := ReapLeftovers(dir); len(got) != 0 {
		t.Fatalf("ReapLeftovers after a clean stop = %v", got)
	}
}

func TestRenderEnvoyConfigReplace(t *testing.T) {
	out, err := RenderEnvoyConfig(EnvoyConfig{
		Base: []byte(readFile(t, "../envoy.yaml")), AdminPort: 1, ListenerPort: 2, KeycloakAddr: "127.0.0.1:3",
		BackendPort: 4, WasmPath: "/w.wasm", PluginConfigReplace: []string{"127.0.0.1:8080", "127.0.0.1:4567"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "127.0.0.1:8080") || !strings.Contains(string(out), "http://127.0.0.1:4567/realms/gatewarden") {
		t.Errorf("replacement not applied:\n%s", out)
	}
}
