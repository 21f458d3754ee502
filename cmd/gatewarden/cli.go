package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage: gatewarden COMMAND [flags]

commands:
  serve --config FILE   run the gateway from a YAML config (SIGHUP reloads it)
  demo [--wasm FILE]    dev issuer + echo backend + gateway with the filter (what make run runs)
  oci push|pull ...     push the filter module to, or pull it from, an OCI registry
  version               print the version

Run "gatewarden COMMAND -h" for a command's flags. The config reference is docs/CONFIG.md.
`

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// run dispatches a command and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "oci":
		// Implemented in oci.go.
		err = runOCI(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "gatewarden", versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprint(stderr, usage)
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, errOCIUsage):
		fmt.Fprintln(stderr, "gatewarden:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "gatewarden:", err)
		return 1
	}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// logFlags adds --log-format and --log-level to fs; call the result after Parse.
func logFlags(fs *flag.FlagSet, stderr io.Writer) func() (*slog.Logger, error) {
	format := fs.String("log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	return func() (*slog.Logger, error) {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*level)); err != nil {
			return nil, fmt.Errorf("%w: --log-level %q; write debug, info, warn or error", errUsage, *level)
		}
		opts := &slog.HandlerOptions{Level: lvl}
		switch strings.ToLower(*format) {
		case "text":
			return slog.New(slog.NewTextHandler(stderr, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(stderr, opts)), nil
		}
		return nil, fmt.Errorf("%w: --log-format %q; write text or json", errUsage, *format)
	}
}

// parseFlags parses args into fs and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, fs.Name(), fs.Args())
	}
	return nil
}
