package devissuer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenRequest sends arbitrary form bodies and Authorization headers to the
// token endpoint: no panic, a JSON answer, and a token only for a correct secret.
func FuzzTokenRequest(f *testing.F) {
	iss, err := New(Config{Issuer: "http://127.0.0.1:1", Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	h := iss.Handler()
	f.Add("grant_type=client_credentials&client_id=demo-app&client_secret=demo-secret", "")
	f.Add("grant_type=client_credentials", "Basic ZGVtby1hcHA6ZGVtby1zZWNyZXQ=")
	f.Add("grant_type=password&username=alice&password=alice&client_id=demo-app&client_secret=demo-secret&scope=openid%20email", "")
	f.Add("grant_type=client_credentials&alg=none&client_id=demo-app&client_secret=demo-secret", "")
	f.Add("%zz&&==;", "Basic %%%")
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK {
			if out["access_token"] == nil {
				t.Fatalf("200 without a token: %v", out)
			}
			form, _ := url.ParseQuery(body)
			if form.Get("client_secret") == "" && !strings.HasPrefix(auth, "Basic ") {
				t.Fatalf("token issued without a client secret: body %q auth %q", body, auth)
			}
		}
	})
}
