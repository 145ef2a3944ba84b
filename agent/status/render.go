package status

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/logsetup"
)

// Width is the widest line Render writes.
const Width = 100

// ANSI escapes Render uses when colour is on.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

// ColourFor reports whether output to f should use colour: f is a terminal,
// NO_COLOR is unset and TERM is not "dumb".
func ColourFor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return logsetup.Terminal(f)
}

// RenderJSON writes s as indented JSON, the documented contract.
func RenderJSON(w io.Writer, s *Snapshot) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	e.SetEscapeHTML(false)
	if err := e.Encode(s); err != nil {
		return fmt.Errorf("write status JSON: %w", err)
	}
	return nil
}

// Render writes s for people: sections agent, servicenow, buffer, relay and
// verdict (with several instances, an instance section and its servicenow,
// buffer and relay sections per instance, titled with its integration), no line wider than Width, ANSI colours only when colour is true.
// Relative times count from s.Time. It returns the first write error.
func Render(w io.Writer, s *Snapshot, colour bool) error {
	p := &printer{w: w, colour: colour, now: s.Time}
	if p.now.IsZero() {
		p.now = time.Now()
	}
	renderAgent(p, s)
	if len(s.Instances) > 0 {
		renderInstances(p, s)
	} else {
		renderServiceNow(p, s)
		renderBuffer(p, s)
		renderRelay(p, s)
	}
	renderVerdict(p, s)
	return p.err
}

func renderAgent(p *printer, s *Snapshot) {
	a := s.Agent
	p.title("agent")
	p.field("id", join(", ", a.ID, prefixed("version ", a.Version)))
	if a.Running {
		state := "running"
		if a.PID != 0 {
			state += " (pid " + strconv.Itoa(a.PID) + ")"
		}
		if a.Uptime > 0 {
			state += ", up " + Human(a.Uptime.D())
		} else if !a.Started.IsZero() {
			state += ", up " + Human(p.now.Sub(a.Started))
		}
		p.field("state", state)
	} else {
		p.fieldC("state", "NOT RUNNING: figures below are what could be read from disk", ansiRed)
	}
	p.field("service", a.ServiceState)
	p.field("config", a.ConfigFile)
	p.field("data dir", a.DataDir)
	p.field("note", a.Note)
}

func renderServiceNow(p *printer, s *Snapshot) {
	sn := s.ServiceNow
	p.title("servicenow")
	p.field("url", sn.URL)
	auth := sn.AuthMethod
	if !sn.TokenExpiry.IsZero() {
		auth = join(", ", auth, "token expires "+p.when(sn.TokenExpiry))
	}
	p.field("auth", auth)
	if sn.AuthError != "" {
		p.wrapped(pad("auth error"), sn.AuthError+" (no table is polled until ServiceNow accepts the credentials)", ansiRed)
	}
	if !sn.CertExpiry.IsZero() {
		p.field("certificate", "expires "+p.when(sn.CertExpiry))
	}
	if sn.LimiterWaits > 0 {
		p.field("rate limit", fmt.Sprintf("%s requests held back by servicenow.rate_limit, %s in all",
			count(sn.LimiterWaits), Human(sn.LimiterWaited.D())))
	}
	if sn.OffsetPages > 0 {
		p.wrapped(pad("acl paging"), fmt.Sprintf("%s pages read by offset past rows hidden by ACLs: a row moving meanwhile may be missed",
			count(sn.OffsetPages)), ansiYellow)
	}
	if len(sn.Tables) == 0 {
		p.field("tables", "none known")
		return
	}
	const row = "  %-20s %-19s %-9s %-5s %-7s %7s %9s %4s %-8s"
	p.plain(fmt.Sprintf(row, "TABLE", "CURSOR", "POLLED", "TOOK", "RESULT", "FETCHED", "TOTAL", "ERRS", "NEXT"), ansiDim)
	for _, t := range sn.Tables {
		took := ""
		if !t.LastPollStart.IsZero() && t.LastPollEnd.After(t.LastPollStart) {
			took = Human(t.LastPollEnd.Sub(t.LastPollStart))
		}
		next := ""
		if !t.NextPoll.IsZero() {
			next = p.rel(t.NextPoll)
		}
		polled := ""
		if !t.LastPollStart.IsZero() {
			polled = p.rel(t.LastPollStart)
		}
		line := fmt.Sprintf(row, clip(t.Name, 20), clip(orDash(t.Cursor), 19), clip(polled, 9), clip(took, 5),
			clip(shortResult(t.LastResult), 7), countIn(t.FetchedLast, 7), countIn(t.FetchedTotal, 9),
			countIn(sumErrors(t.HTTPErrors), 4), clip(next, 8))
		c := ""
		if t.LastResult == ResultError || t.LastResult == ResultAuthError {
			c = ansiRed
		}
		p.plain(line, c)
	}
	common := commonExcluded(sn.Tables)
	if len(common) > 0 && len(sn.Tables) > 1 {
		p.wrapped("  all tables exclude: ", strings.Join(common, ", "), "")
	}
	for _, t := range sn.Tables {
		if sn.AuthError != "" && t.LastResult == ResultAuthError {
			t.LastError = "" // shown once above, for every table
		}
		renderTableDetail(p, t, common)
	}
}

// commonExcluded returns the excluded fields every table shares, in the
// first table's order.
func commonExcluded(tables []TableStatus) []string {
	if len(tables) == 0 {
		return nil
	}
	var common []string
	for _, f := range tables[0].ExcludedFields {
		shared := true
		for _, t := range tables[1:] {
			shared = shared && slices.Contains(t.ExcludedFields, f)
		}
		if shared && !slices.Contains(common, f) {
			common = append(common, f)
		}
	}
	return common
}

func renderTableDetail(p *printer, t TableStatus, common []string) {
	var facts []string
	if len(t.HTTPErrors) > 0 {
		codes := make([]int, 0, len(t.HTTPErrors))
		for c := range t.HTTPErrors {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", c, t.HTTPErrors[c]))
		}
		facts = append(facts, "http errors "+strings.Join(parts, " "))
	}
	if t.SourceNewest != "" && t.SourceNewest > t.Cursor {
		facts = append(facts, "ServiceNow has rows up to "+t.SourceNewest)
	}
	if len(facts) > 0 {
		p.wrapped("  "+t.Name+": ", strings.Join(facts, "; "), "")
	}
	if t.LastError != "" {
		p.wrapped("  "+t.Name+" error: ", t.LastError, ansiRed)
	}
	renderReconcile(p, t)
	var own []string
	for _, f := range t.ExcludedFields {
		if !slices.Contains(common, f) && !slices.Contains(own, f) {
			own = append(own, f)
		}
	}
	if len(own) > 0 {
		also := ""
		if len(common) > 0 {
			also = "also "
		}
		p.wrapped("  "+t.Name+" "+also+"excludes: ", strings.Join(own, ", "), "")
	}
}

func renderBuffer(p *printer, s *Snapshot) {
	b := s.Buffer
	p.title("buffer")
	if b.Error != "" {
		p.fieldC("error", b.Error, ansiYellow)
	}
	pending := fmt.Sprintf("%s batches, %s records, %s", count(b.PendingBatches), count(b.PendingRecords), Bytes(b.PendingBytes))
	if b.MaxBytes > 0 {
		pending += fmt.Sprintf(" of %s (%.1f%%)", Bytes(b.MaxBytes), 100*float64(b.PendingBytes)/float64(b.MaxBytes))
	}
	p.field("pending", pending)
	if b.Oldest.IsZero() {
		p.field("oldest", "nothing pending")
	} else {
		p.field("oldest", fmt.Sprintf("%s old (since %s)", Human(p.now.Sub(b.Oldest)), clock(b.Oldest)))
	}
	if b.FreeDisk > 0 {
		p.field("free disk", Bytes(b.FreeDisk))
	}
	if !b.LastGC.IsZero() {
		p.field("last gc", p.when(b.LastGC))
	}
	if b.PollingPaused {
		why := b.PauseReason
		if why == "" {
			why = "buffer full, waiting for the relay to drain it"
		}
		p.wrapped(pad("polling"), "PAUSED: "+why, ansiYellow)
	}
	renderRepairs(p, b)
}

// renderRepairs says what damage the buffer found and what is read again.
func renderRepairs(p *printer, b Buffer) {
	if b.Repairs > 0 {
		line := fmt.Sprintf("%d since the buffer was made", b.Repairs)
		c := ""
		if b.RepairsPending > 0 {
			line += fmt.Sprintf(", %d pending (re-reading %s)", b.RepairsPending, strings.Join(mapStrings(b.RepairTables, orEvery), ", "))
			c = ansiYellow
		}
		p.fieldC("repairs", line, c)
	}
	if len(b.ResyncTables) > 0 {
		p.field("resync", "re-reading "+strings.Join(b.ResyncTables, ", ")+" on request")
	}
	if r := b.LastRepair; r != nil {
		what := orEvery(r.Table)
		if r.From != "" || r.To != "" {
			what += " " + r.From + " .. " + r.To
		}
		p.wrapped(pad("last repair"), fmt.Sprintf("%s (%s): %s", what, p.when(r.Time), r.Reason), "")
	}
	for _, dir := range b.MovedAside {
		p.wrapped(pad("moved aside"), dir+" (damaged buffer kept for support)", ansiYellow)
	}
}

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

func renderRelay(p *printer, s *Snapshot) {
	r := s.Relay
	p.title("relay")
	p.field("url", r.URL)
	if s.Agent.Running {
		conn := "no"
		if r.Connected {
			conn = "yes"
		}
		if !r.Since.IsZero() {
			conn += ", since " + p.when(r.Since)
		}
		if r.RTT > 0 && r.Connected {
			conn += ", rtt " + Human(r.RTT.D())
		}
		c := ""
		if !r.Connected {
			c = ansiRed
		}
		p.fieldC("connected", conn, c)
	}
	if r.LastError != "" {
		p.wrapped(pad("last error"), r.LastError, ansiRed)
	}
	if !r.LastAck.IsZero() {
		p.field("last ack", join(", batch ", p.when(r.LastAck), r.LastAckBatch))
	}
	p.field("errors", fmt.Sprintf("%s publish errors, %s reconnects", count(r.PublishErrors), count(r.Reconnects)))
	if !r.CertExpiry.IsZero() {
		p.field("certificate", "expires "+p.when(r.CertExpiry))
	}
	if len(r.Confirmed) == 0 {
		p.field("confirmed", "no confirmation from the relay yet")
		return
	}
	p.plain("  cloud holds everything up to:", "")
	tables := make([]string, 0, len(r.Confirmed))
	for t := range r.Confirmed {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		c := r.Confirmed[t]
		line := fmt.Sprintf("    %-20s %s (mod %d)", clip(t, 20), c.UpdatedOn, c.ModCount)
		if !c.Time.IsZero() {
			line += ", confirmed " + p.rel(c.Time)
		}
		p.plain(line, "")
	}
}

func renderVerdict(p *printer, s *Snapshot) {
	v := s.Verdict
	level := v.Level
	if level == "" {
		level = "UNKNOWN"
	}
	c := ansiRed
	switch level {
	case LevelOK:
		c = ansiGreen
	case LevelDegraded:
		c = ansiYellow
	}
	p.blank()
	p.segments(segment{"verdict       ", ansiBold}, segment{level, ansiBold + c})
	for _, r := range v.Reasons {
		p.wrapped("  - ", r, "")
	}
}
