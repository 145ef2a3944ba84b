package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Buffer is what the forwarder needs of the durable buffer.
type Buffer interface {
	// Lease blocks until batches are pending or ctx ends.
	Lease(ctx context.Context, max int) ([]buffer.Batch, error)
	// Release returns leased batches that were not delivered.
	Release(seqs ...uint64)
	// Ack deletes delivered batches.
	Ack(ctx context.Context, seqs ...uint64) error
	// Get and Set persist state values (the relay's confirmations).
	Get(key string) ([]byte, error)
	Set(ctx context.Context, key string, val []byte) error
	// AckedRange returns the range of a recently acked batch, by its id.
	AckedRange(id string) (buffer.Range, uint64, bool)
	// AddRepair records a range to read again from ServiceNow.
	AddRepair(ctx context.Context, r buffer.Repair) (buffer.Repair, error)
}

// Config configures a Forwarder.
type Config struct {
	URL         string // nats:// or tls:// URL of the relay
	Credentials string // file with the agent's NKEY seed (or a .creds JWT file)
	CAFile      string // PEM roots the relay's certificate must chain to
	Tenant      string
	Integration string
	Agent       string

	Window         int           // batches published before waiting for their acks; default 8
	PublishTimeout time.Duration // per window, and the grace for in-flight publishes at shutdown; default 30s
	RetryWait      time.Duration // first pause after a failed window, doubled per failure up to 1m; default 2s

	HeartbeatInterval time.Duration         // default 1m
	Heartbeat         func() wire.Heartbeat // the status snapshot to publish; nil, or a Heartbeat without Agent, sends none

	// Shared is set when this forwarder is one of several of one agent
	// (one per ServiceNow instance, all on the agent's confirmation
	// subjects): it takes only the confirmations and rejections naming
	// its Integration, and ignores those naming none (an older relay's),
	// which it cannot route. A lone forwarder takes those too.
	Shared bool

	// StopOnPermanent makes Run return a permanent connection error (see
	// Permanent) instead of retrying it: for one-shot commands (sync),
	// which must say why at once. The service keeps retrying, since an
	// admin may fix the relay side while it runs.
	StopOnPermanent bool

	Now    func() time.Time
	Logger zerolog.Logger
}

// Forwarder publishes buffered batches. Create it with New and start it with Run.
type Forwarder struct {
	cfg Config
	buf Buffer
	log zerolog.Logger

	// connected is signalled at each (re)connection, so a heartbeat goes
	// out at once.
	connected chan struct{}
	// permanent receives the first permanent connection error when
	// StopOnPermanent is set.
	permanent chan error
	// jitter draws the retry jitter, in [0, 1).
	jitter func() float64

	mu sync.Mutex // guards the fields below
	st Stats
}

// New checks cfg and returns a Forwarder; it does not connect yet.
func New(cfg Config, buf Buffer) (*Forwarder, error) {
	if cfg.Window <= 0 {
		cfg.Window = 8
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 30 * time.Second
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 2 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for key, v := range map[string]string{"relay.tenant": cfg.Tenant, "relay.integration": cfg.Integration, "agent.id": cfg.Agent} {
		if err := wire.CheckName(key, v); err != nil {
			return nil, err
		}
	}
	f := &Forwarder{cfg: cfg, buf: buf, log: cfg.Logger, connected: make(chan struct{}, 1), permanent: make(chan error, 1), jitter: jitter}
	f.st.URL = secret.RedactURL(cfg.URL)
	f.st.Confirmed = map[string]wire.Version{}
	return f, nil
}

// LoadConfirmed restores the confirmations persisted by an earlier run for
// tables, so status shows them before the relay confirms anything new. Call
// it before Run: it replaces what the forwarder holds.
func (f *Forwarder) LoadConfirmed(tables []string) {
	confirmed := LoadConfirmed(f.buf.Get, tables)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Confirmed = confirmed
}

// LoadConfirmed reads the confirmations a forwarder persisted with get (a
// buffer's Get), by table; for the forwarder at start and for status when
// the agent is not running.
func LoadConfirmed(get func(key string) ([]byte, error), tables []string) map[string]wire.Version {
	out := map[string]wire.Version{}
	for _, t := range tables {
		raw, err := get(confirmedKey(t))
		if err != nil {
			continue
		}
		var v wire.Version
		if json.Unmarshal(raw, &v) == nil {
			out[t] = v
		}
	}
	return out
}

// Run connects to the relay (retrying forever) and forwards batches until
// ctx ends. Batches in flight when ctx ends get PublishTimeout to be
// acknowledged. Run returns after every goroutine it started has ended.
func (f *Forwarder) Run(ctx context.Context) error {
	nc, err := f.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*f.cfg.Window))
	if err != nil {
		return fmt.Errorf("jetstream on %s: %w", secret.RedactURL(f.cfg.URL), err)
	}
	sub, err := nc.Subscribe(wire.ConfirmSubject(f.cfg.Tenant, f.cfg.Agent), f.onConfirm(ctx))
	if err != nil {
		return fmt.Errorf("subscribe to confirmations: %w", err)
	}
	defer sub.Unsubscribe()
	rsub, err := nc.Subscribe(wire.RejectSubject(f.cfg.Tenant, f.cfg.Agent), f.onReject(ctx))
	if err != nil {
		return fmt.Errorf("subscribe to rejections: %w", err)
	}
	defer rsub.Unsubscribe()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.forward(gctx, nc, js) })
	g.Go(func() error { return f.heartbeats(gctx, nc) })
	g.Go(func() error {
		select {
		case err := <-f.permanent:
			return err
		case <-gctx.Done():
			return nil
		}
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// relayConn is what forward and heartbeats use of the relay connection
// (a *nats.Conn); the timer tests run them on an in-memory one.
type relayConn interface {
	IsConnected() bool
	IsClosed() bool
	RTT() (time.Duration, error)
	Publish(subject string, data []byte) error
}

// connect dials the relay; with RetryOnFailedConnect the first attempt may
// fail and nats.go keeps trying in the background.
func (f *Forwarder) connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("sei-agent " + f.cfg.Agent),
		nats.CustomInboxPrefix(wire.InboxPrefix(f.cfg.Tenant, f.cfg.Agent)),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectWait(2 * time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.Timeout(10 * time.Second),
		nats.PingInterval(30 * time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { f.setConnected(true, nil); f.noteTLS(nc) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			f.setConnected(true, nil)
			f.noteTLS(nc)
			f.count(func(s *Stats) { s.Reconnects++ })
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { f.setConnected(false, err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { f.setError(err) }),
		// With RetryOnFailedConnect the first connection's failure (an
		// authorization violation, an untrusted certificate) arrives
		// only here.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { f.connectFailed(err) }),
	}
	if f.cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(f.cfg.CAFile))
	}
	cred, err := CredentialOption(f.cfg.Credentials)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		opts = append(opts, cred)
	}
	nc, err := nats.Connect(f.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to relay %s: %w", secret.RedactURL(f.cfg.URL), err)
	}
	if nc.IsConnected() {
		f.setConnected(true, nil)
		f.noteTLS(nc)
	}
	return nc, nil
}

// noteTLS records when the relay's certificate expires (its leaf), for
// status's "certificate expiring" warning.
func (f *Forwarder) noteTLS(nc *nats.Conn) {
	st, err := nc.TLSConnectionState()
	if err != nil || len(st.PeerCertificates) == 0 {
		return
	}
	exp := st.PeerCertificates[0].NotAfter
	f.count(func(s *Stats) { s.CertExpiry = exp })
}

// CredentialOption reads relay.credentials: an NKEY seed, or a JWT .creds file.
func CredentialOption(file string) (nats.Option, error) {
	if file == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("relay.credentials: %w", err)
	}
	if strings.Contains(string(raw), "BEGIN NATS USER JWT") {
		return nats.UserCredentials(file), nil
	}
	opt, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		return nil, fmt.Errorf("relay.credentials %s: not an NKEY seed or .creds file: %w", file, err)
	}
	return opt, nil
}

// forward leases and publishes windows of batches until ctx ends. After a
// failed window it waits with capped exponential backoff and jitter
// (retryWait); its warnings are rate-limited, and the first delivery after
// failures is logged once (outage).
func (f *Forwarder) forward(ctx context.Context, nc relayConn, js jetstream.JetStream) error {
	var out outage
	for {
		// The buffer leases what is pending even after ctx ended: stop
		// here, or a shutdown would go on publishing (and wait up to
		// PublishTimeout for each window that is not acknowledged).
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.waitConnected(ctx, nc); err != nil {
			return err
		}
		batches, err := f.buf.Lease(ctx, f.cfg.Window)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("lease batches: %w", err)
		}
		// In-flight publishes finish even when ctx ends, within PublishTimeout.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.PublishTimeout)
		failed := f.publishWindow(pctx, js, batches, &out)
		cancel()
		if failed > 0 {
			out.failures++
			f.wait(ctx, retryWait(f.cfg.RetryWait, out.failures, f.jitter()))
		}
	}
}

// publishWindow publishes batches asynchronously, waits for their acks,
// acks the delivered ones in the buffer and releases the rest. It returns
// how many failed.
func (f *Forwarder) publishWindow(ctx context.Context, js jetstream.JetStream, batches []buffer.Batch, out *outage) int {
	futures := make([]jetstream.PubAckFuture, len(batches))
	errs := make([]error, len(batches))
	for i, b := range batches {
		futures[i], errs[i] = js.PublishMsgAsync(f.message(b))
	}
	var done, failed []uint64
	var last string // the newest delivered batch's id
	recs := 0       // records in the delivered batches
	for i, b := range batches {
		if errs[i] == nil {
			errs[i] = awaitAck(ctx, futures[i])
		}
		if errs[i] != nil {
			failed = append(failed, b.Seq)
			f.publishFailed(b, errs[i], out)
			continue
		}
		done = append(done, b.Seq)
		last, recs = b.ID, recs+b.Records
	}
	if len(done) > 0 {
		if err := f.buf.Ack(ctx, done...); err != nil {
			// Not acked locally: they will be sent again and deduplicated.
			f.log.Error().Err(err).Msg("ack batches in buffer")
			failed = append(failed, done...)
			done = nil
		}
	}
	if len(failed) > 0 {
		f.buf.Release(failed...)
	}
	if len(done) > 0 {
		f.count(func(s *Stats) {
			s.Published += int64(len(done))
			s.LastAck = f.cfg.Now()
			s.LastAckBatch = last
			s.LastError = ""
		})
		f.log.Debug().Int("batch", len(done)).Int("records", recs).Msg("forwarded")
		if len(failed) == 0 {
			if d := out.recovered(f.cfg.Now()); d > 0 {
				f.log.Info().Dur("outage", d).Msg("relay reachable again: publishing resumed")
			}
		}
	}
	return len(failed)
}

func awaitAck(ctx context.Context, fut jetstream.PubAckFuture) error {
	select {
	case <-fut.Ok():
		return nil // a duplicate ack also means the stream holds it
	case err := <-fut.Err():
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for ack: %w", ctx.Err())
	}
}

func (f *Forwarder) message(b buffer.Batch) *nats.Msg {
	// A part of a record too large for one message has the part in its
	// label (see wire.PartLabel); a label that does not parse is sent as
	// it is, and the relay refuses it.
	table, part, isPart, _ := wire.ParseLabel(b.Label)
	m := nats.NewMsg(wire.IngestSubject(f.cfg.Tenant, f.cfg.Integration, table))
	m.Header.Set(wire.HeaderMsgID, wire.ScopedMsgID(f.cfg.Tenant, b.ID))
	if isPart {
		m.Header.Set(wire.HeaderPart, part.Header())
		m.Header.Set(wire.HeaderPartSet, part.Set)
	}
	m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
	m.Header.Set(wire.HeaderAgent, f.cfg.Agent)
	m.Header.Set(wire.HeaderRecords, strconv.Itoa(b.Records))
	m.Header.Set(wire.HeaderEncoding, wire.Encoding)
	m.Data = b.Data
	return m
}

func (f *Forwarder) publishFailed(b buffer.Batch, err error, out *outage) {
	now := f.cfg.Now()
	f.count(func(s *Stats) {
		s.PublishErrors++
		s.LastError = err.Error()
		s.LastErrorAt = now
	})
	if warn, n := out.failed(now); warn {
		f.log.Warn().Err(err).Str("batch", b.ID).Str("table", b.Label).Int("failures", n).
			Msg("publish failed; will retry with backoff (next warning in a minute at most)")
		return
	}
	f.log.Debug().Err(err).Str("batch", b.ID).Str("table", b.Label).Msg("publish failed")
}

// waitConnected returns when nc is connected or ctx ends.
func (f *Forwarder) waitConnected(ctx context.Context, nc relayConn) error {
	for !nc.IsConnected() {
		if nc.IsClosed() {
			return errors.New("relay connection closed")
		}
		if err := f.wait(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// wait pauses for d or until ctx ends.
func (f *Forwarder) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// heartbeats publishes the status snapshot every HeartbeatInterval and
// at each (re)connection, and measures the round-trip time to the relay.
func (f *Forwarder) heartbeats(ctx context.Context, nc relayConn) error {
	tick := time.NewTicker(f.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		if nc.IsConnected() {
			if rtt, err := nc.RTT(); err == nil {
				f.count(func(s *Stats) { s.RTT = rtt })
			}
			f.publishHeartbeat(nc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-f.connected:
		}
	}
}

// publishHeartbeat publishes Config.Heartbeat's snapshot, unless it has no
// Agent (another forwarder of the agent sends it).
func (f *Forwarder) publishHeartbeat(nc relayConn) {
	if f.cfg.Heartbeat == nil {
		return
	}
	hb := f.cfg.Heartbeat()
	if hb.Agent == "" {
		return
	}
	raw, err := json.Marshal(hb)
	if err == nil {
		err = nc.Publish(wire.HeartbeatSubject(f.cfg.Tenant, f.cfg.Agent), raw)
	}
	if err != nil {
		f.log.Debug().Err(err).Msg("publish heartbeat")
	}
}

// onConfirm records the relay's delivery confirmations: per table, the
// newest version it holds. Versions only move forward.
func (f *Forwarder) onConfirm(ctx context.Context) nats.MsgHandler {
	return func(m *nats.Msg) {
		var c wire.Confirmation
		if err := json.Unmarshal(m.Data, &c); err != nil {
			f.log.Warn().Err(err).Msg("undecodable delivery confirmation")
			return
		}
		if !f.mine(c.Integration) {
			return
		}
		for table, v := range c.Tables {
			f.mu.Lock()
			moved := v.Newer(f.st.Confirmed[table])
			if moved {
				f.st.Confirmed[table] = v
				f.st.ConfirmedAt = f.cfg.Now()
			}
			f.mu.Unlock()
			if moved {
				raw, _ := json.Marshal(v)
				if err := f.buf.Set(ctx, confirmedKey(table), raw); err != nil && ctx.Err() == nil {
					f.log.Debug().Err(err).Str("table", table).Msg("save confirmation")
				}
			}
		}
	}
}

// mine reports whether a confirmation or rejection naming integration is
// this forwarder's (see Config.Shared).
func (f *Forwarder) mine(integration string) bool {
	if integration == "" {
		return !f.cfg.Shared
	}
	return integration == f.cfg.Integration
}

// ConfirmedPrefix starts the buffer state keys holding the relay's
// confirmations, one per table: the agent mirrors them beside the buffer.
const ConfirmedPrefix = "confirmed/"

// confirmedKey is the buffer state key holding a table's confirmed version.
func confirmedKey(table string) string { return ConfirmedPrefix + table }

// onReject turns the relay's negative confirmations into repairs: the
// rejected batch's range is read again from ServiceNow. A batch whose range
// is no longer known (acked long ago, or by a buffer since moved aside) is
// repaired by reading every table again from its lookback: costly, and
// nothing is lost.
func (f *Forwarder) onReject(ctx context.Context) nats.MsgHandler {
	return func(m *nats.Msg) {
		var rej wire.Rejection
		if err := json.Unmarshal(m.Data, &rej); err != nil || rej.Batch == "" {
			f.log.Warn().Err(err).Msg("undecodable rejection")
			return
		}
		if !f.mine(rej.Integration) {
			return
		}
		reason := fmt.Sprintf("relay quarantined batch %s of %s as %s: %s", rej.Batch, rej.Table, rej.Reason, rej.Error)
		r := buffer.Repair{Reason: reason}
		rng, _, ok := f.buf.AckedRange(rej.Batch)
		if ok {
			r.Range = rng
		} else {
			r.Whole = true
		}
		if _, err := f.buf.AddRepair(ctx, r); err != nil {
			f.log.Error().Err(err).Str("batch", rej.Batch).Msg("record repair of a rejected batch")
			return
		}
		f.count(func(s *Stats) { s.Rejected++ })
		f.log.Error().Str("batch", rej.Batch).Str("table", rej.Table).Bool("range_known", ok).
			Msg("relay could not decode a batch; its range will be read again from ServiceNow")
	}
}
