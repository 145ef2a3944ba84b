package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// healthTimeout bounds `sei-relay health`: a container health check must
// answer even when the relay hangs.
const healthTimeout = 5 * time.Second

// cmdHealth asks the running relay of the configuration's data_dir for
// GET /healthz and fails unless it answers 200. It is the container image's
// health check: the image has no shell and no curl.
func cmdHealth(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("health", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ri, err := readRunInfo(cfg.DataDir)
	if err != nil {
		return err
	}
	if ri.HTTPURL == "" {
		return fmt.Errorf("check health: %s names no http_url", runInfoFile)
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	url := strings.TrimSuffix(ri.HTTPURL, "/") + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("check health at %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("check health at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read health answer of %s: %w", url, err)
	}
	fmt.Fprintf(stdout, "%s", body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("check health at %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
