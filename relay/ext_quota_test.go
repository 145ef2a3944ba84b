package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// extCluster is an external NATS server in operator mode, set up as
// relay/doc.go tells a cluster operator, with relays run against it as
// replicas (each its own data_dir and store, sharing the stream).
type extCluster struct {
	dir, dataDir string // dataDir: where enroll ran (keys, JWTs, credentials)
	ns           *server.Server
	url          string
	extra        string // config lines every replica gets
	natsExtra    string // more nats: keys of the replicas (not of the first enrolls)
	blocks       map[string]enroll.RelayBlock
}

// startExtCluster enrolls agents ("tenant/agent", integration snow) with
// the config lines extra, then starts the server (Port -1, a full resolver
// on enroll's JWT directory).
func startExtCluster(t *testing.T, extra string, agents ...string) *extCluster {
	t.Helper()
	c := &extCluster{dir: t.TempDir(), extra: extra, blocks: map[string]enroll.RelayBlock{}}
	c.dataDir = filepath.Join(c.dir, "data")
	// enroll needs nats.url only to know the mode: the real one comes later.
	cfg := c.config(t, "enroll", c.dataDir, "nats://127.0.0.1:1")
	for _, ta := range agents {
		c.enroll(t, cfg, ta)
	}
	opJWT, err := os.ReadFile(filepath.Join(c.dataDir, enroll.AccountsDir, "operator.jwt"))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := jwt.DecodeOperatorClaims(string(opJWT))
	if err != nil {
		t.Fatal(err)
	}
	// The cluster's resolver has its own copy of the JWTs enroll wrote so
	// far: a later enroll reaches it only by a push.
	resolver := filepath.Join(c.dir, "resolver")
	if err := os.CopyFS(resolver, os.DirFS(filepath.Join(c.dataDir, enroll.ResolverDir))); err != nil {
		t.Fatal(err)
	}
	dr, err := server.NewDirAccResolver(resolver, 0, 0, server.NoDelete)
	if err != nil {
		t.Fatal(err)
	}
	c.ns = natstest.Start(t, &server.Options{JetStreamMaxStore: 256 << 20, JetStreamMaxMemory: 16 << 20,
		TrustedOperators: []*jwt.OperatorClaims{oc}, SystemAccount: oc.SystemAccount, AccountResolver: dr})
	c.url = c.ns.ClientURL()
	return c
}

// enroll enrolls "tenant/agent" for integration snow with config cfg.
func (c *extCluster) enroll(t *testing.T, cfg, ta string) {
	t.Helper()
	tenant, agent, _ := strings.Cut(ta, "/")
	code, out, errOut := runCmd(t, "enroll", "-c", cfg, "--tenant", tenant, "--integration", "snow", "--agent", agent)
	if code != 0 {
		t.Fatalf("enroll %s: %d %s", ta, code, errOut)
	}
	var b struct {
		Relay enroll.RelayBlock `yaml:"relay"`
	}
	if err := yaml.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	c.blocks[ta] = b.Relay
}

// config writes relay config name (its own folder) for dataDir and url.
func (c *extCluster) config(t *testing.T, name, dataDir, url string) string {
	t.Helper()
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	natsExtra := ""
	if url == c.url {
		natsExtra = c.natsExtra
	}
	return writeConfig(t, dir, fmt.Sprintf(`
data_dir: %q
http: {listen: "127.0.0.1:0", token: tok}
nats: {url: %q, credentials: %q%s}
stream: {max_bytes: 64MiB, replicas: 1}
consumer: {ack_wait: 30s}
log: {level: error}
%s`, dataDir, url, filepath.Join(c.dataDir, enroll.AdminCredsFile), natsExtra, c.extra))
}

// replica starts one relay replica with its own data_dir.
func (c *extCluster) replica(t *testing.T, name string) *runningRelay {
	t.Helper()
	dataDir := filepath.Join(c.dir, name+"-data")
	return startRun(t, c.config(t, name, dataDir, c.url), dataDir)
}

// dial connects as an enrolled agent ("tenant/agent").
func (c *extCluster) dial(ta string) (*nats.Conn, error) {
	tenant, agent, _ := strings.Cut(ta, "/")
	return nats.Connect(c.url, nats.UserCredentials(c.blocks[ta].Credentials), nats.CustomInboxPrefix(wire.InboxPrefix(tenant, agent)),
		nats.MaxReconnects(0))
}

var sysIDRE = regexp.MustCompile(`"sys_id":"([^"]+)"`)

// sysIDs counts tenant's records by sys_id across the replicas' stores.
func sysIDs(t *testing.T, tenant string, replicas ...*runningRelay) (map[string]int, error) {
	t.Helper()
	ids := map[string]int{}
	for _, r := range replicas {
		n, after := 0, ""
		for {
			u := r.ri.HTTPURL + "/v1/records?limit=1000&tenant=" + tenant
			if after != "" {
				u += "&after=" + after
			}
			body, next, err := httpGetCursor(u, "tok")
			if err != nil {
				return nil, err
			}
			for _, m := range sysIDRE.FindAllStringSubmatch(body, -1) {
				ids[m[1]]++
				n++
			}
			if after = next; after == "" {
				break
			}
		}
	}
	return ids, nil
}

// TestExternalQuotaSharedByReplicas: two relay replicas on one external
// cluster (quota.max_bytes 1 MiB), both consuming the stream and both
// forwarding (their gateways share the batches). Tenant ta floods 48
// batches of 400 KiB: it is refused with an error naming quota.max_bytes
// while it holds its quota; tenant tb's batches land meanwhile; ta's
// refused batches, sent again like an agent does, are all stored once
// ta drained, none lost and none twice; and ta is no longer paused. Before
// the shared quota an external cluster had none: the flood was never
// refused.
func TestExternalQuotaSharedByReplicas(t *testing.T) {
	c := startExtCluster(t, "quota: {max_bytes: 1MiB, check_interval: 100ms}\n", "ta/agent1", "tb/agent2")
	a, b := c.replica(t, "a"), c.replica(t, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	attacker, err := c.dial("ta/agent1")
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	victim, err := c.dial("tb/agent2")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	ajs, _ := jetstream.New(attacker)
	vjs, _ := jetstream.New(victim)
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error { // both replicas set the stream up
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		_, err := vjs.PublishMsg(pctx, batchMsg(t, "tb", "tb-first", "tb-first", "agent2"))
		return err
	})

	const batches, publishers = 48, 16
	work := make(chan int, batches)
	for i := range batches {
		work <- i
	}
	close(work)
	refused := make(chan error, 1)
	var flood sync.WaitGroup
	for range publishers {
		flood.Go(func() {
			for n := range work {
				m := floodBatch(t, n)
				for ctx.Err() == nil { // like an agent: the batch stays here until acked
					pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := ajs.PublishMsg(pctx, m)
					pcancel()
					if err == nil {
						break
					}
					select {
					case refused <- err:
					default:
					}
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()
	var first error
	select {
	case first = <-refused:
	case <-done:
		t.Fatal("ta's flood of 48 batches of 400 KiB was never refused: no quota on the external cluster")
	case <-ctx.Done():
		t.Fatal("the flood neither ended nor was refused")
	}
	if !strings.Contains(first.Error(), "quota.max_bytes") {
		t.Errorf("refusal does not say why: %v", first)
	}

	// While ta is refused, tb's batches land.
	for i := range 5 {
		id := fmt.Sprintf("tb-during-flood-%d", i)
		if _, err := vjs.PublishMsg(ctx, batchMsg(t, "tb", id, id, "agent2")); err != nil {
			t.Fatalf("tb's batch %d refused during ta's flood: %v", i, err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("ta's refused batches were never accepted after it drained")
	}
	natstest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
		ids, err := sysIDs(t, "ta", a, b)
		if err != nil {
			return err
		}
		if len(ids) != batches*40 {
			return fmt.Errorf("ta holds %d distinct records, want %d", len(ids), batches*40)
		}
		for id, n := range ids {
			if n != 1 {
				return fmt.Errorf("record %s stored %d times across the replicas", id, n)
			}
		}
		return nil
	})
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ids, err := sysIDs(t, "tb", a, b)
		if err != nil || len(ids) != 6 {
			return fmt.Errorf("tb's records %v %v, want its 6 batches", ids, err)
		}
		return nil
	})
	for _, r := range []*runningRelay{a, b} {
		natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
			body, err := httpGet(r.ri.HTTPURL+"/v1/quota?tenant=ta", "tok")
			if err != nil || !strings.Contains(body, `"paused":false`) || !strings.Contains(body, `"batches":0`) {
				return fmt.Errorf("ta's quota after the flood: %v %s", err, body)
			}
			return nil
		})
	}
	refusals := 0.0
	for _, r := range []*runningRelay{a, b} {
		metrics, err := httpGet(r.ri.HTTPURL+"/metrics", "tok")
		if err != nil {
			t.Fatal(err)
		}
		if m := refusedRE.FindStringSubmatch(metrics); m != nil {
			var n float64
			fmt.Sscan(m[1], &n)
			refusals += n
		}
	}
	if refusals == 0 {
		t.Errorf("refusals not counted in sei_relay_quota_refused_batches_total")
	}
}

var refusedRE = regexp.MustCompile(`(?m)^sei_relay_quota_refused_batches_total (\S+)$`)

// httpGetCursor is httpGet that also returns the next page's cursor.
func httpGetCursor(url, token string) (body, next string, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), resp.Header.Get(api.HeaderNextCursor), err
}

// TestExternalConnLimitPerAgent: on an external cluster, a relay given
// nats.system_credentials (enroll writes relay-system.creds) pushes the
// account JWT of a tenant enrolled while it runs, so its agent connects at
// once (and a revoke disconnects it), and bounds each agent to quota.connections_per_agent connections:
// agent1's third connection is closed while its tenant account (two
// agents, 2 each) would allow four, and agent3 still gets its two. Before,
// enroll only wrote the JWT for the operator to push, and the account's
// total was the only bound.
func TestExternalConnLimitPerAgent(t *testing.T) {
	c := startExtCluster(t, "quota: {connections_per_agent: 2}\n", "ta/agent1", "ta/agent3")
	c.natsExtra = fmt.Sprintf(", system_credentials: %q", filepath.Join(c.dataDir, enroll.SystemCredsFile))
	r := c.replica(t, "a")

	// A tenant enrolled now reaches the cluster only by the relay's push.
	live := c.config(t, "enroll-live", c.dataDir, c.url)
	c.enroll(t, live, "tb/agent2")
	late, err := c.dial("tb/agent2")
	if err != nil {
		t.Fatalf("agent of a tenant enrolled while the relay runs: %v", err)
	}
	defer late.Close()
	// A revoke is pushed the same way: the cluster disconnects the agent.
	if code, out, errOut := runCmd(t, "revoke", "-c", live, "--tenant", "tb", "--agent", "agent2"); code != 0 {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !late.IsClosed() {
			return fmt.Errorf("revoked agent still connected")
		}
		return nil
	})

	var conns []*nats.Conn
	open := func() int {
		n := 0
		for _, nc := range conns {
			if !nc.IsClosed() {
				n++
			}
		}
		return n
	}
	// The limiter watches connect events from its start: wait until it
	// has closed one, or for the time a closing takes.
	for range 3 {
		nc, err := c.dial("ta/agent1")
		if err != nil {
			t.Fatalf("agent1's connection %d: %v", len(conns)+1, err)
		}
		defer nc.Close()
		conns = append(conns, nc)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := open(); n != 2 {
			return fmt.Errorf("agent1 holds %d connections, want quota.connections_per_agent 2 (the account allows 4)", n)
		}
		return nil
	})
	for i := range 2 {
		nc, err := c.dial("ta/agent3")
		if err != nil {
			t.Fatalf("agent3's connection %d while agent1 is at its limit: %v", i+1, err)
		}
		defer nc.Close()
		if err := nc.Flush(); err != nil {
			t.Fatalf("agent3's connection %d: %v", i+1, err)
		}
	}
	metrics, err := httpGet(r.ri.HTTPURL+"/metrics", "tok")
	if err != nil || !regexp.MustCompile(`(?m)^sei_relay_agent_connections_refused_total [1-9]`).MatchString(metrics) {
		t.Errorf("closed connection not counted in sei_relay_agent_connections_refused_total: %v", err)
	}
}
