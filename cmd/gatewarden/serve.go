package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/gatewarden/gatewarden/gateway"
)

// runServe implements `gatewarden serve --config FILE`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "gateway YAML config file (see docs/CONFIG.md)")
	check := fs.Bool("check", false, "only parse and validate the config, then exit")
	logger := logFlags(fs, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *config == "" {
		return fmt.Errorf("%w: serve needs --config FILE, e.g. gatewarden serve --config gateway.yaml", errUsage)
	}
	log, err := logger()
	if err != nil {
		return err
	}
	if *check {
		if _, err := gateway.LoadFile(*config); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", *config)
		return nil
	}
	return gateway.Run(ctx, *config, gateway.Options{Logger: log}, func(g *gateway.Gateway) {
		for _, l := range g.Config().Listeners {
			log.Info("gatewarden: serving", "listener", l.Name, "address", g.Addr(l.Name))
		}
	})
}
