package jwt

import (
	"reflect"
	"testing"
)

func TestClaimPaths(t *testing.T) {
	c, err := parseClaims([]byte(`{
		"realm_access": {"roles": ["admin", "user"]},
		"resource_access": {"my-app": {"roles": ["reader", 7, true, null, ["x"], {"a":1}]}},
		"a.b": {"c": "dotted"},
		"back\\slash": "bs",
		"n": 42, "f": 1.5, "t": true, "z": null, "s": "str",
		"groups": ["/g1", "/g2"],
		"nested": [{"id": "first"}, {"id": "second"}],
		"*": "star", "x#": "hash", "@this": "at"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	str := []struct {
		path string
		want string
		ok   bool
	}{
		{"s", "str", true},
		{"n", "42", true},
		{"f", "1.5", true},
		{"t", "true", true},
		{"z", "", false},
		{"realm_access", "", false},
		{"realm_access.roles.0", "admin", true},
		{"realm_access.roles.1", "user", true},
		{"realm_access.roles.2", "", false},
		{"realm_access.roles.01", "", false},
		{"realm_access.roles.-1", "", false},
		{`a\.b.c`, "dotted", true},
		{"a.b.c", "", false},
		{`back\\slash`, "bs", true},
		{"nested.1.id", "second", true},
		{"groups.#", "", false},
		{"*", "star", true},
		{"x#", "hash", true},
		{"@this", "at", true},
		{"s*", "", false},
		{"missing", "", false},
		{"", "", false},
		{"s.x", "", false},
	}
	for _, tc := range str {
		got, ok := c.String(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	lists := []struct {
		path string
		want []string
	}{
		{"realm_access.roles", []string{"admin", "user"}},
		{"resource_access.my-app.roles", []string{"reader", "7", "true"}},
		{"s", []string{"str"}},
		{"n", []string{"42"}},
		{"z", nil},
		{"missing", nil},
		{"realm_access", nil},
	}
	for _, tc := range lists {
		if got := c.Strings(tc.path); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Strings(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	if j, ok := c.JSON("realm_access"); !ok || string(j) != `{"roles": ["admin", "user"]}` {
		t.Errorf("JSON(realm_access) = %s, %v", j, ok)
	}
	if j, ok := c.JSON("z"); !ok || string(j) != "null" {
		t.Errorf("JSON(z) = %s, %v", j, ok)
	}
	if len(c.Raw()) == 0 {
		t.Error("Raw empty")
	}
	var nilClaims *Claims
	if _, ok := nilClaims.String("s"); ok {
		t.Error("nil Claims lookup succeeded")
	}
}
