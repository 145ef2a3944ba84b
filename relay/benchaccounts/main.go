// Command benchaccounts loads a running sei-relay with many tenants and
// agents and prints the figures of the account model: time to enroll every
// agent (first and last hundred tenants apart, to show that an enroll does
// not grow with the number of tenants), the relay's resident memory and CPU
// at rest under the load, a heartbeat's delay to GET /v1/agents, and the
// time of one more `sei-relay enroll` and `revoke`. It asserts nothing.
// scripts/bench-accounts.sh starts the relay and runs it.
//
// The simulated agents are real NATS connections with their own .creds
// (users of their tenants' accounts), heartbeating on their interval; a
// fraction of them also publish one small batch per interval.
//
// With -ingest N it measures the relay's memory instead: every agent
// publishes synthetic incidents at once until N records are applied,
// printing RSS at checkpoints, then the CPU at rest (ingest.go;
// scripts/bench-relay-mem.sh runs it).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

type options struct {
	config, dataDir, relayBin, token string
	pid                              int
	tenants, agentsPer               int
	heartbeat, settle, window        time.Duration
	publishers                       float64
}

func main() {
	var o options
	flag.StringVar(&o.config, "config", "", "the relay's configuration file")
	flag.StringVar(&o.dataDir, "data", "", "the relay's data_dir")
	flag.StringVar(&o.relayBin, "relay", "sei-relay", "sei-relay binary (for the enroll and revoke timings)")
	flag.StringVar(&o.token, "token", "", "HTTP API token")
	flag.IntVar(&o.pid, "pid", 0, "the relay's process id (for RSS and CPU)")
	flag.IntVar(&o.tenants, "tenants", 5000, "tenants to enroll")
	flag.IntVar(&o.agentsPer, "agents", 2, "agents per tenant")
	flag.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "heartbeat interval of each agent")
	flag.DurationVar(&o.settle, "settle", 40*time.Second, "wait after the last connection before measuring")
	flag.DurationVar(&o.window, "window", 60*time.Second, "measurement window at rest")
	flag.Float64Var(&o.publishers, "publishers", 0.05, "fraction of agents that also publish a batch per interval")
	var io ingestOptions
	var checkpoints string
	flag.IntVar(&io.records, "ingest", 0, "instead of the account figures: publish this many records from every agent at once and print the relay's memory (see ingest.go)")
	flag.StringVar(&checkpoints, "checkpoints", "100000,300000,1000000", "with -ingest: print memory once this many records are applied (comma-separated)")
	flag.IntVar(&io.batch, "batch", 200, "with -ingest: records per batch")
	flag.IntVar(&io.fields, "fields", 92, "with -ingest: fields per record")
	flag.IntVar(&io.inflight, "inflight", 4, "with -ingest: batches in flight per agent")
	flag.StringVar(&io.profile, "profile", "", "with -ingest: save a CPU profile of the relay at rest to this file")
	flag.DurationVar(&io.idle, "idle", 60*time.Second, "with -ingest: window at rest after the last checkpoint")
	flag.Parse()
	if io.records > 0 {
		for _, c := range strings.Split(checkpoints, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(c)); err == nil && n > 0 && n < io.records {
				io.checkpoints = append(io.checkpoints, n)
			}
		}
		io.checkpoints = append(io.checkpoints, io.records)
		if err := runIngest(context.Background(), o, io); err != nil {
			fmt.Fprintln(os.Stderr, "benchaccounts:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "benchaccounts:", err)
		os.Exit(1)
	}
}

type runInfo struct {
	HTTPURL string `json:"http_url"`
	NATSURL string `json:"nats_url"`
	CAFile  string `json:"ca_file"`
}

type agentCreds struct {
	tenant, agent, jwt, seed string
}

// startAgents reads the running relay's relay.json, enrolls o's agents and
// connects each one; the caller closes the connections (closeAll).
func startAgents(ctx context.Context, o options) (runInfo, []agentCreds, []*nats.Conn, error) {
	raw, err := os.ReadFile(filepath.Join(o.dataDir, "relay.json"))
	if err != nil {
		return runInfo{}, nil, nil, fmt.Errorf("read relay.json (is the relay running?): %w", err)
	}
	var ri runInfo
	if err := json.Unmarshal(raw, &ri); err != nil {
		return runInfo{}, nil, nil, fmt.Errorf("decode relay.json: %w", err)
	}
	creds, err := enrollAll(ctx, o, ri)
	if err != nil {
		return runInfo{}, nil, nil, err
	}
	conns, err := connectAll(ri, creds)
	if err != nil {
		return runInfo{}, nil, nil, err
	}
	return ri, creds, conns, nil
}

func closeAll(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

func run(ctx context.Context, o options) error {
	rss0, _ := rss(o.pid)
	fmt.Printf("relay RSS before load: %.1f MiB\n", rss0)
	ri, creds, conns, err := startAgents(ctx, o)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var beats, batches, failed atomic.Int64
	for i, nc := range conns {
		publisher := rand.Float64() < o.publishers
		wg.Go(func() { simulate(lctx, nc, creds[i], o.heartbeat, publisher, &beats, &batches, &failed) })
	}
	fmt.Printf("settling %s\n", o.settle)
	time.Sleep(o.settle) // a load generator waits on the wall clock; nothing here is a test
	measureRest(o, conns)
	measureHeartbeat(ctx, o, ri, conns, creds)
	stop()
	wg.Wait()
	fmt.Printf("simulated traffic: %d heartbeats, %d batches acknowledged, %d publishes failed\n", beats.Load(), batches.Load(), failed.Load())
	return timeCLI(o)
}

// enrollAll enrolls every agent as `sei-relay enroll` does (the registry,
// then the tenant's account JWT handed to the running relay), in process to
// leave process start-up out of the figure.
func enrollAll(ctx context.Context, o options, ri runInfo) ([]agentCreds, error) {
	reg, err := enroll.NewRegistry(o.dataDir)
	if err != nil {
		return nil, err
	}
	admin, err := nats.Connect(ri.NATSURL, nats.UserCredentials(filepath.Join(o.dataDir, enroll.AdminCredsFile)), nats.RootCAs(ri.CAFile))
	if err != nil {
		return nil, fmt.Errorf("connect as admin: %w", err)
	}
	defer admin.Close()
	var out []agentCreds
	var perTenant []time.Duration
	start := time.Now()
	for i := range o.tenants {
		t0 := time.Now()
		tenant := fmt.Sprintf("t%05d", i)
		var tok string
		for j := range o.agentsPer {
			agent := fmt.Sprintf("agent%d", j+1)
			_, c, t, err := reg.Enroll(tenant, "snow", agent, true)
			if err != nil {
				return nil, err
			}
			if _, err := admin.RequestWithContext(ctx, "sei.relay.admin.account.update", []byte(t)); err != nil {
				return nil, fmt.Errorf("hand %s's account to the relay: %w", tenant, err)
			}
			tok = t
			uj, _ := jwt.ParseDecoratedJWT(c)
			kp, err := nkeys.ParseDecoratedNKey(c)
			if err != nil {
				return nil, err
			}
			seed, _ := kp.Seed()
			out = append(out, agentCreds{tenant: tenant, agent: agent, jwt: uj, seed: string(seed)})
		}
		_ = tok
		perTenant = append(perTenant, time.Since(t0))
	}
	total := time.Since(start)
	fmt.Printf("enrolled %d tenants x %d agents in %s (%.1f ms per agent)\n", o.tenants, o.agentsPer, total.Round(time.Millisecond),
		float64(total.Microseconds())/1000/float64(o.tenants*o.agentsPer))
	if n := len(perTenant); n >= 200 {
		fmt.Printf("  per tenant: first 100 median %s, last 100 median %s\n", median(perTenant[:100]), median(perTenant[n-100:]))
	}
	return out, nil
}

func connectAll(ri runInfo, creds []agentCreds) ([]*nats.Conn, error) {
	start := time.Now()
	conns := make([]*nats.Conn, len(creds))
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i, c := range creds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			opts := []nats.Option{nats.UserJWTAndSeed(c.jwt, c.seed), nats.CustomInboxPrefix(wire.InboxPrefix(c.tenant, c.agent)),
				nats.MaxReconnects(-1), nats.Name(c.tenant + "/" + c.agent), nats.Timeout(30 * time.Second),
				nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
			if ri.CAFile != "" {
				opts = append(opts, nats.RootCAs(ri.CAFile))
			}
			// A busy machine can miss a TLS handshake; an agent retries.
			var nc *nats.Conn
			var err error
			for attempt := 0; attempt < 5; attempt++ {
				if nc, err = nats.Connect(ri.NATSURL, opts...); err == nil {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("connect %s/%s: %w", c.tenant, c.agent, err)
			}
			conns[i] = nc
		})
	}
	wg.Wait()
	if firstErr != nil {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
		return nil, firstErr
	}
	fmt.Printf("connected %d agents in %s\n", len(conns), time.Since(start).Round(time.Millisecond))
	return conns, nil
}

// simulate heartbeats (and, for a publisher, publishes one batch) every
// interval, starting at a random point of the first interval.
func simulate(ctx context.Context, nc *nats.Conn, c agentCreds, every time.Duration, publisher bool, beats, batches, failed *atomic.Int64) {
	t := time.NewTimer(rand.N(every))
	defer t.Stop()
	body, _ := wire.Encode([]wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: "0123456789abcdef0123456789abcdef", SysUpdatedOn: "2026-01-02 03:04:05", SysModCount: 1}})
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(every)
		hb := fmt.Sprintf(`{"agent":%q,"version":"bench","verdict":"OK","backlog_records":0}`, c.agent)
		if nc.Publish(wire.HeartbeatSubject(c.tenant, c.agent), []byte(hb)) == nil {
			beats.Add(1)
		}
		if !publisher {
			continue
		}
		m := nats.NewMsg(wire.IngestSubject(c.tenant, "snow", "incident"))
		m.Data = body
		m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("%s-%s-%d", c.tenant, c.agent, n))
		m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
		m.Header.Set(wire.HeaderEncoding, wire.Encoding)
		m.Header.Set(wire.HeaderRecords, "1")
		if _, err := nc.RequestMsg(m, 10*time.Second); err == nil {
			batches.Add(1)
		} else {
			failed.Add(1)
		}
	}
}

// measureRest samples the relay's CPU time and RSS over the window.
func measureRest(o options, conns []*nats.Conn) {
	cpu0, err := cpuSeconds(o.pid)
	if err != nil {
		fmt.Printf("relay CPU: %v\n", err)
		return
	}
	start := time.Now()
	time.Sleep(o.window)
	cpu1, _ := cpuSeconds(o.pid)
	r, _ := rss(o.pid)
	fmt.Printf("relay at rest with %d agents connected: RSS %.1f MiB, CPU %.1f%% of one core (over %s)\n",
		len(conns), r, 100*(cpu1-cpu0)/time.Since(start).Seconds(), o.window)
}

// measureHeartbeat publishes a heartbeat with a fresh version from a few
// agents and times until GET /v1/agents shows it.
func measureHeartbeat(ctx context.Context, o options, ri runInfo, conns []*nats.Conn, creds []agentCreds) {
	var delays []time.Duration
	for k := range 5 {
		i := rand.N(len(conns))
		c := creds[i]
		version := "probe-" + strconv.Itoa(k) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		start := time.Now()
		hb := fmt.Sprintf(`{"agent":%q,"version":%q}`, c.agent, version)
		if err := conns[i].Publish(wire.HeartbeatSubject(c.tenant, c.agent), []byte(hb)); err != nil {
			fmt.Printf("heartbeat probe: %v\n", err)
			return
		}
		for time.Since(start) < 30*time.Second {
			body, err := get(ctx, ri.HTTPURL+"/v1/agents?tenant="+c.tenant, o.token)
			if err == nil && strings.Contains(body, version) {
				delays = append(delays, time.Since(start))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fmt.Printf("heartbeat to /v1/agents: median %s, max %s (%d probes, polling every 5 ms)\n", median(delays), maxOf(delays), len(delays))
}

// timeCLI times one more `sei-relay enroll` into a new tenant and into an
// existing one, and a `sei-relay revoke`, as an operator runs them.
func timeCLI(o options) error {
	for _, step := range [][]string{
		{"enroll", "-c", o.config, "--tenant", "extra", "--integration", "snow", "--agent", "agent1"},
		{"enroll", "-c", o.config, "--tenant", "t00000", "--integration", "snow", "--agent", "agent9"},
		{"revoke", "-c", o.config, "--tenant", "t00000", "--agent", "agent9"},
	} {
		start := time.Now()
		out, err := exec.Command(o.relayBin, step...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("sei-relay %s: %w\n%s", strings.Join(step, " "), err, out)
		}
		fmt.Printf("sei-relay %s %s %s: %s\n", step[0], step[4], step[len(step)-1], time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func get(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String(), nil
}

// rss returns a process's resident set in MiB, from /proc.
func rss(pid int) (float64, error) {
	m, err := readMem(pid)
	if err == nil && m.rss == 0 {
		err = fmt.Errorf("no VmRSS for pid %d", pid)
	}
	return float64(m.rss) / 1024, err
}

// cpuSeconds returns a process's user+system CPU time, from /proc (clock
// ticks of 1/100 s on Linux).
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxOf(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
