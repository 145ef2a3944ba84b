package servicenow

import (
	"bytes"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// clock is a settable instance clock for the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sim starts a simulator over real HTTP.
func sim(t *testing.T, opts snowtest.Options) (*snowtest.Server, *httptest.Server) {
	t.Helper()
	s := snowtest.New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// testClient builds a client with a fake sleep and a log buffer.
func testClient(t *testing.T, url string, mod func(*Config)) (*Client, *sleeper, *bytes.Buffer) {
	t.Helper()
	sl := &sleeper{}
	var logs bytes.Buffer
	cfg := Config{URL: url, Auth: Auth{Method: MethodBasic, Username: "admin", Password: "admin"},
		Sleep: sl.Sleep, Logger: zerolog.New(&logs), PageSize: 100}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl, &logs
}

// collector gathers every record version a scan produced.
type collector struct {
	versions map[string]map[wire.Version]bool // sys_id -> versions seen
	pages    int
	last     Cursor
}

func newCollector() *collector { return &collector{versions: map[string]map[wire.Version]bool{}} }

func (c *collector) add(p Page) error {
	c.pages++
	c.last = p.Cursor
	for _, r := range p.Records {
		if c.versions[r.SysID] == nil {
			c.versions[r.SysID] = map[wire.Version]bool{}
		}
		c.versions[r.SysID][r.Version()] = true
	}
	return nil
}

// missing lists the current rows of table visible to the API user whose
// latest version the collector never saw.
func (c *collector) missing(s *snowtest.Server, table string) (missing []string, visible int) {
	for _, r := range s.Records(table) {
		id := r["sys_id"].(string)
		if s.Hidden(table, id) {
			continue
		}
		visible++
		v := wire.Version{UpdatedOn: r["sys_updated_on"].(string)}
		if mc, ok := r["sys_mod_count"].(string); ok {
			v.ModCount, _ = strconv.ParseInt(mc, 10, 64)
		}
		if !c.versions[id][v] {
			missing = append(missing, id)
		}
	}
	return missing, visible
}
