package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdAsk asks one agent a remote request through the running relay's HTTP
// API, with the admin token, and prints the result; a bundle is written
// to -o.
func cmdAsk(ctx context.Context, args []string, stdout io.Writer) error {
	fs, path := newFlags("ask", stdout)
	tenant := fs.String("tenant", "", "tenant of the agent")
	agent := fs.String("agent", "", "agent id")
	integration := fs.String("integration", "", "preview, resync: the agent's integration (default: its only one)")
	table := fs.String("table", "", "preview, resync: the table")
	limit := fs.Int("limit", 0, "preview: how many records (default 3)")
	from := fs.String("from", "", "resync: read the table again from this time (2026-01-02, \"2026-01-02 15:04:05\" or RFC 3339)")
	out := fs.String("o", "", "bundle: output file (default sei-agent-bundle-TENANT-AGENT.zip)")
	if err := parse(fs, args); err != nil {
		return err
	}
	kind := fs.Arg(0)
	if fs.NArg() > 0 {
		// Flags may follow the kind too: ask status --tenant t --agent a.
		if err := parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 || !wire.ValidKind(kind) {
		return command.Usagef("usage: sei-relay ask [-c FILE] --tenant T --agent A KIND [flags]; KIND is one of %s", strings.Join(wire.RequestKinds, ", "))
	}
	if err := errors.Join(wire.CheckName("--tenant", *tenant), wire.CheckName("--agent", *agent)); err != nil {
		return command.Usage(err)
	}
	req := map[string]any{"kind": kind}
	for k, v := range map[string]string{"integration": *integration, "table": *table, "from": *from} {
		if v != "" {
			req[k] = v
		}
	}
	if *limit != 0 {
		req["limit"] = *limit
	}
	body, _ := json.Marshal(req)
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	c, err := newAPIClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Requests.AnswerTimeout.D()+cfg.Requests.Timeout.D()+30*time.Second)
	defer cancel()
	var ans struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/agents/"+*tenant+"/"+*agent+"/requests", body, &ans); err != nil {
		return err
	}
	if kind != wire.KindBundle {
		var pretty bytes.Buffer
		if json.Indent(&pretty, ans.Result, "", "  ") != nil {
			pretty.Write(ans.Result)
		}
		_, err := fmt.Fprintln(stdout, pretty.String())
		return err
	}
	if *out == "" {
		*out = "sei-agent-bundle-" + *tenant + "-" + *agent + ".zip"
	}
	return c.download(ctx, ans.Result, *out, stdout)
}

// apiClient calls the running relay's HTTP API with the admin token.
type apiClient struct {
	base, token string
}

func newAPIClient(cfg config.Config) (*apiClient, error) {
	ri, err := readRunInfo(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	tok := cfg.HTTP.Token.Reveal()
	if tok == "" {
		raw, err := os.ReadFile(filepath.Join(cfg.DataDir, tokenFile))
		if err != nil {
			return nil, fmt.Errorf("read the admin token (http.token, or %s): %w", tokenFile, err)
		}
		tok = strings.TrimSpace(string(raw))
	}
	return &apiClient{base: strings.TrimSuffix(ri.HTTPURL, "/"), token: tok}, nil
}

// do sends a request and decodes the JSON answer into v; an answer other
// than 200 is an error with the relay's message.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// download fetches the bundle a bundle request's result names into out.
func (c *apiClient) download(ctx context.Context, result json.RawMessage, out string, stdout io.Writer) error {
	var b struct {
		URL  string `json:"url"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal(result, &b); err != nil || !strings.HasPrefix(b.URL, "/v1/") {
		return fmt.Errorf("bundle answer without a URL: %s", result)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+b.URL, nil)
	if err != nil {
		return fmt.Errorf("fetch bundle: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch bundle %s: %w", b.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch bundle %s: %s", b.URL, resp.Status)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != b.Size {
		err = fmt.Errorf("got %d of %d bytes", n, b.Size)
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("write bundle %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "support bundle written to %s (%d bytes)\n", out, n)
	return nil
}
