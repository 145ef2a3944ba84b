package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The -ingest mode: publish synthetic incident batches straight into the
// relay's stream from every simulated agent at once, and print the relay's
// memory after each checkpoint and its CPU at rest afterwards. Faster than
// real agents (no ServiceNow, no agent buffer), and the relay does the same
// work: decode, version check, Badger write, ack.

// ingestOptions are the -ingest mode's flags.
type ingestOptions struct {
	records     int           // total records to publish
	checkpoints []int         // print memory once this many records are applied
	batch       int           // records per batch
	fields      int           // fields per record
	inflight    int           // batches in flight per agent
	profile     string        // file for a CPU profile of the window at rest
	idle        time.Duration // window at rest after the last checkpoint
}

// memSample is one reading of /proc/PID/status, in KiB.
type memSample struct{ rss, anon, file, hwm int64 }

func readMem(pid int) (memSample, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, err
	}
	defer f.Close()
	var m memSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n
		case "RssAnon":
			m.anon = n
		case "RssFile":
			m.file = n
		case "VmHWM":
			m.hwm = n
		}
	}
	return m, sc.Err()
}

// storeBytes sums the sizes of the store's value log and table files.
func storeBytes(dir string) (vlog, sst int64) {
	_ = filepath.WalkDir(filepath.Join(dir, "store"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		switch filepath.Ext(path) {
		case ".vlog":
			vlog += info.Size()
		case ".sst":
			sst += info.Size()
		}
		return nil
	})
	return vlog, sst
}

// incidentBody encodes n synthetic incidents of one agent, starting at
// record first: sys_ids in random order (as ServiceNow's are), fields
// fields of words, about 30 bytes each.
func incidentBody(agent, first, n, fields int) ([]byte, error) {
	words := []string{"network", "printer", "outage", "user", "cannot", "login", "email", "server", "restart",
		"disk", "full", "vpn", "slow", "password", "reset", "request", "laptop", "replace", "update", "ticket"}
	recs := make([]wire.Record, n)
	for i := range recs {
		id := first + i
		r := rand.New(rand.NewPCG(uint64(agent), uint64(id)))
		f := make(map[string]json.RawMessage, fields)
		for k := range fields {
			v := words[r.IntN(len(words))] + " " + words[r.IntN(len(words))] + " " + strconv.Itoa(r.IntN(100000))
			f[fmt.Sprintf("u_field_%02d", k)] = json.RawMessage(strconv.Quote(v))
		}
		recs[i] = wire.Record{Op: wire.OpUpsert, Table: "incident",
			SysID:        fmt.Sprintf("%016x%016x", r.Uint64(), uint64(id)),
			SysUpdatedOn: "2026-01-02 03:04:05", SysModCount: 1, Fields: f}
	}
	return wire.Encode(recs)
}

// appliedRecords reads sei_relay_ingest_records_applied_total from /metrics.
func appliedRecords(ctx context.Context, httpURL, token string) (int64, error) {
	body, err := get(ctx, httpURL+"/metrics", token)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "sei_relay_ingest_records_applied_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("no sei_relay_ingest_records_applied_total in %s/metrics", httpURL)
}

func runIngest(ctx context.Context, o options, io ingestOptions) error {
	ri, creds, conns, err := startAgents(ctx, o)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	fmt.Printf("ingest: %d records from %d agents at once, batches of %d, %d fields a record\n",
		io.records, len(conns), io.batch, io.fields)
	fmt.Printf("  %10s %8s %9s %9s %9s %10s %10s %9s %9s\n", "records", "secs", "rec/s", "RSS MiB", "anon MiB", "file MiB",
		"peak MiB", "vlog MiB", "sst MiB")

	// Peak RSS while ingesting, sampled (VmHWM also counts pages paged
	// out since, so both are printed).
	var peakMu sync.Mutex
	var peak memSample // the sample with the highest RSS
	sctx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMem(o.pid); err == nil {
				peakMu.Lock()
				if m.rss > peak.rss {
					peak = m
				}
				peakMu.Unlock()
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})
	defer func() { stopSampling(); sampler.Wait() }()

	base, err := appliedRecords(ctx, ri.HTTPURL, o.token)
	if err != nil {
		return err
	}
	start := time.Now()
	next := make([]int, len(conns))
	for _, cp := range io.checkpoints {
		if err := publishUpTo(conns, creds, next, cp, io); err != nil {
			return err
		}
		for {
			n, err := appliedRecords(ctx, ri.HTTPURL, o.token)
			if err != nil {
				return err
			}
			if n-base >= int64(cp) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		secs := time.Since(start).Seconds()
		time.Sleep(3 * time.Second) // the store pages out a second after activity
		m, err := readMem(o.pid)
		if err != nil {
			return err
		}
		vlog, sst := storeBytes(o.dataDir)
		peakMu.Lock()
		p := peak
		peakMu.Unlock()
		fmt.Printf("  %10d %8.1f %9.0f %9.1f %9.1f %10.1f %9.1f %9.1f %9.1f\n", cp, secs, float64(cp)/secs,
			mib(m.rss), mib(m.anon), mib(m.file), mib(p.rss), float64(vlog)/(1<<20), float64(sst)/(1<<20))
	}
	stopSampling()
	sampler.Wait()
	m, _ := readMem(o.pid)
	fmt.Printf("  peak RSS while ingesting: %.1f MiB (%.1f anon, %.1f file) sampled every 100 ms; VmHWM %.1f MiB\n",
		mib(peak.rss), mib(peak.anon), mib(peak.file), mib(m.hwm))

	// At rest, the agents still connected and heartbeating.
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var beats, batches, failed atomic.Int64
	for i, nc := range conns {
		wg.Go(func() { simulate(lctx, nc, creds[i], o.heartbeat, false, &beats, &batches, &failed) })
	}
	time.Sleep(o.settle)
	cpu0, err := cpuSeconds(o.pid)
	if err != nil {
		stop()
		wg.Wait()
		return err
	}
	t0 := time.Now()
	if io.profile != "" { // a CPU profile of the window, through the admin token
		body, err := get(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", ri.HTTPURL, int(io.idle.Seconds())), o.token)
		if err == nil {
			err = os.WriteFile(io.profile, []byte(body), 0o600)
		}
		if err != nil {
			fmt.Printf("  CPU profile: %v\n", err)
		}
	}
	time.Sleep(io.idle - time.Since(t0))
	cpu1, _ := cpuSeconds(o.pid)
	stop()
	wg.Wait()
	m, _ = readMem(o.pid)
	fmt.Printf("  at rest with %d agents connected (heartbeat %s): CPU %.3f%% of one core over %s (resolution %.3f%%), RSS %.1f MiB (%.1f anon, %.1f file)\n",
		len(conns), o.heartbeat, 100*(cpu1-cpu0)/time.Since(t0).Seconds(), io.idle, 100*0.01/io.idle.Seconds(),
		mib(m.rss), mib(m.anon), mib(m.file))
	return nil
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// publishUpTo publishes batches from every agent at once until upTo
// records went out in total, each batch acknowledged by JetStream. next
// holds each agent's count of records published so far.
func publishUpTo(conns []*nats.Conn, creds []agentCreds, next []int, upTo int, io ingestOptions) error {
	total := 0
	for _, n := range next {
		total += n
	}
	todo := upTo - total
	if todo <= 0 {
		return nil
	}
	errs := make(chan error, len(conns)*io.inflight)
	var wg sync.WaitGroup
	for i, nc := range conns {
		n := todo / len(conns)
		if i < todo%len(conns) {
			n++
		}
		agentFirst := next[i]
		next[i] += n
		// inflight publishers per agent, each on its own share of the
		// agent's records: an agent's forwarder also keeps several
		// batches in flight.
		for w := range io.inflight {
			first, n := agentFirst+w*n/io.inflight, (w+1)*n/io.inflight-w*n/io.inflight
			wg.Go(func() {
				for done := 0; done < n; done += io.batch {
					k := min(io.batch, n-done)
					body, err := incidentBody(i, first+done, k, io.fields)
					if err != nil {
						errs <- err
						return
					}
					c := creds[i]
					m := nats.NewMsg(wire.IngestSubject(c.tenant, "snow", "incident"))
					m.Data = body
					m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("%s-%s-%d", c.tenant, c.agent, first+done))
					m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
					m.Header.Set(wire.HeaderEncoding, wire.Encoding)
					m.Header.Set(wire.HeaderRecords, strconv.Itoa(k))
					m.Header.Set(wire.HeaderAgent, c.agent)
					if _, err := nc.RequestMsg(m, time.Minute); err != nil {
						errs <- fmt.Errorf("publish from %s/%s: %w", c.tenant, c.agent, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}
