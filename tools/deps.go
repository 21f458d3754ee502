//go:build tools

// Package tools pins module dependencies that packages still being written will import,
// so that `go mod tidy` keeps them. Delete an import once real code uses it.
package tools

import (
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/tetratelabs/wazero"
	_ "github.com/tidwall/gjson"
	_ "go.yaml.in/yaml/v3"
)
