package status

import (
	"fmt"
	"strings"
	"time"
)

// Thresholds tune Evaluate. A zero field takes its default from
// DefaultThresholds.
type Thresholds struct {
	// RelayDegraded and RelayFailing: how long the relay may be
	// unreachable before the verdict is DEGRADED, then FAILING.
	RelayDegraded time.Duration
	RelayFailing  time.Duration
	// BacklogAge: the oldest pending record may be this old before the
	// verdict is DEGRADED.
	BacklogAge time.Duration
	// Stall: how long a table's cursor may stay put while ServiceNow
	// reports newer rows.
	Stall time.Duration
	// PollOverdue: how late a scheduled poll may be.
	PollOverdue time.Duration
	// ExpiryWarning: a certificate or token expiring within this window
	// makes the verdict DEGRADED.
	ExpiryWarning time.Duration
	// MinFreeDisk: less free space than this on the data dir's disk makes
	// the verdict DEGRADED.
	MinFreeDisk int64
}

// DefaultThresholds returns the thresholds the agent uses unless configured
// otherwise. RelayDegraded, RelayFailing and BacklogAge are the defaults of
// the configuration keys status.relay_degraded, status.relay_failing and
// status.backlog_age, MinFreeDisk that of agent.min_free_bytes: the agent
// sets them from its configuration, and a test in main holds the two sets
// of defaults equal.
func DefaultThresholds() Thresholds {
	return Thresholds{
		RelayDegraded: time.Minute,
		RelayFailing:  2 * time.Hour,
		BacklogAge:    3 * time.Hour,
		Stall:         3 * time.Hour,
		PollOverdue:   15 * time.Minute,
		ExpiryWarning: 14 * 24 * time.Hour,
		MinFreeDisk:   256 << 20,
	}
}

func (th Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&th.RelayDegraded, d.RelayDegraded)
	set(&th.RelayFailing, d.RelayFailing)
	set(&th.BacklogAge, d.BacklogAge)
	set(&th.Stall, d.Stall)
	set(&th.PollOverdue, d.PollOverdue)
	set(&th.ExpiryWarning, d.ExpiryWarning)
	if th.MinFreeDisk <= 0 {
		th.MinFreeDisk = d.MinFreeDisk
	}
	return th
}

// Evaluate computes the verdict from the snapshot's figures at now. It is a
// pure function; the rules are listed in the package documentation. FAILING
// reasons come before DEGRADED ones.
func Evaluate(s *Snapshot, th Thresholds, now time.Time) Verdict {
	th = th.withDefaults()
	if len(s.Instances) > 0 {
		return evaluateInstances(s, th, now)
	}
	var v verdictBuilder
	if !s.Agent.Running {
		v.fail("agent is not running (service state: %s)", orUnknown(s.Agent.ServiceState))
	}
	evaluateSections(&v, s, th, now)
	return v.verdict()
}

// evaluateSections applies every rule but "not running" to s's
// servicenow, buffer and relay sections.
func evaluateSections(v *verdictBuilder, s *Snapshot, th Thresholds, now time.Time) {
	if s.Agent.Running {
		evaluateRelay(v, s, th, now)
		evaluateSchedule(v, s, th, now)
	}
	evaluateTables(v, s, th, now)
	evaluateReconcile(v, s)
	evaluateBuffer(v, s, th, now)
	evaluateExpiry(v, "ServiceNow OAuth token", s.ServiceNow.TokenExpiry, th, now)
	evaluateExpiry(v, "ServiceNow TLS certificate", s.ServiceNow.CertExpiry, th, now)
	evaluateExpiry(v, "relay TLS certificate", s.Relay.CertExpiry, th, now)
}

func evaluateRelay(v *verdictBuilder, s *Snapshot, th Thresholds, now time.Time) {
	r := s.Relay
	if r.Connected {
		return
	}
	since := r.Since
	if since.IsZero() {
		since = s.Agent.Started
	}
	why := ""
	if r.LastError != "" {
		why = ": " + r.LastError
	}
	if since.IsZero() {
		v.degrade("relay %s is not connected%s", orUnset(r.URL), why)
		return
	}
	d := now.Sub(since)
	switch {
	case d >= th.RelayFailing:
		v.fail("relay %s unreachable for %s (since %s)%s", orUnset(r.URL), Human(d), clock(since), why)
	case d >= th.RelayDegraded:
		v.degrade("relay %s unreachable for %s (since %s)%s", orUnset(r.URL), Human(d), clock(since), why)
	}
}

func evaluateSchedule(v *verdictBuilder, s *Snapshot, th Thresholds, now time.Time) {
	if s.Buffer.PollingPaused {
		return // the buffer reason explains why polls wait
	}
	for _, t := range s.ServiceNow.Tables {
		if t.NextPoll.IsZero() || t.LastResult == ResultRunning {
			continue
		}
		if late := now.Sub(t.NextPoll); late > th.PollOverdue {
			v.degrade("table %s: poll overdue by %s (was due %s)", t.Name, Human(late), clock(t.NextPoll))
		}
	}
}

func evaluateTables(v *verdictBuilder, s *Snapshot, th Thresholds, now time.Time) {
	var authFailed []string
	authErr := ""
	for _, t := range s.ServiceNow.Tables {
		switch t.LastResult {
		case ResultAuthError:
			authFailed = append(authFailed, t.Name)
			if authErr == "" {
				authErr = t.LastError
			}
			continue
		case ResultError:
			v.degrade("table %s: last poll failed at %s: %s", t.Name, clock(t.LastPollEnd), orUnset(t.LastError))
			continue
		}
		if !s.Agent.Running || s.Buffer.PollingPaused || t.SourceNewest == "" || t.SourceNewest <= t.Cursor {
			continue
		}
		since := t.CursorAdvanced
		if since.IsZero() {
			since = s.Agent.Started
		}
		if !since.IsZero() && now.Sub(since) > th.Stall {
			v.degrade("table %s: cursor stuck at %s for %s though ServiceNow has rows up to %s",
				t.Name, orUnset(t.Cursor), Human(now.Sub(since)), t.SourceNewest)
		}
	}
	switch {
	case s.ServiceNow.AuthError != "":
		v.fail("ServiceNow authentication failing (%s): %s; no table is polled until it works",
			orUnset(s.ServiceNow.AuthMethod), s.ServiceNow.AuthError)
	case len(authFailed) > 0:
		if authErr != "" {
			authErr = ": " + authErr
		}
		v.fail("ServiceNow authentication failing (%s, tables %s)%s",
			orUnset(s.ServiceNow.AuthMethod), strings.Join(authFailed, ", "), authErr)
	}
}

func evaluateBuffer(v *verdictBuilder, s *Snapshot, th Thresholds, now time.Time) {
	b := s.Buffer
	full := b.MaxBytes > 0 && b.PendingBytes >= b.MaxBytes
	switch {
	case b.PollingPaused && b.PauseReason != "":
		v.degrade("polling paused, cursors held: %s", b.PauseReason)
	case b.PollingPaused:
		v.degrade("buffer full (%s of %s): polling paused until the relay drains it", Bytes(b.PendingBytes), Bytes(b.MaxBytes))
	case full:
		v.degrade("buffer full (%s of %s)", Bytes(b.PendingBytes), Bytes(b.MaxBytes))
	}
	if !b.Oldest.IsZero() {
		if age := now.Sub(b.Oldest); age > th.BacklogAge {
			v.degrade("backlog: oldest pending record waits for %s (%d records not yet delivered)", Human(age), b.PendingRecords)
		}
	}
	if b.FreeDisk > 0 && b.FreeDisk < th.MinFreeDisk {
		v.degrade("free disk of the data dir is low: %s (want at least %s)", Bytes(b.FreeDisk), Bytes(th.MinFreeDisk))
	}
	if b.RepairsPending > 0 {
		tables := make([]string, len(b.RepairTables))
		for i, t := range b.RepairTables {
			tables[i] = orEvery(t)
		}
		v.degrade("buffer damage repaired: %d range(s) of %s to read again from ServiceNow", b.RepairsPending, strings.Join(tables, ", "))
	}
}

func orEvery(table string) string {
	if table == "" {
		return "every table"
	}
	return table
}

func evaluateExpiry(v *verdictBuilder, what string, exp time.Time, th Thresholds, now time.Time) {
	switch {
	case exp.IsZero():
	case !now.Before(exp):
		v.fail("%s expired %s ago (%s)", what, Human(now.Sub(exp)), clock(exp))
	case exp.Sub(now) < th.ExpiryWarning:
		v.degrade("%s expires in %s (%s)", what, Human(exp.Sub(now)), clock(exp))
	}
}

// verdictBuilder collects reasons by level.
type verdictBuilder struct {
	failing, degraded []string
}

func (v *verdictBuilder) fail(format string, args ...any) {
	v.failing = append(v.failing, fmt.Sprintf(format, args...))
}

func (v *verdictBuilder) degrade(format string, args ...any) {
	v.degraded = append(v.degraded, fmt.Sprintf(format, args...))
}

func (v *verdictBuilder) verdict() Verdict {
	reasons := append(v.failing, v.degraded...)
	switch {
	case len(v.failing) > 0:
		return Verdict{Level: LevelFailing, Reasons: reasons}
	case len(v.degraded) > 0:
		return Verdict{Level: LevelDegraded, Reasons: reasons}
	}
	return Verdict{Level: LevelOK}
}

// ExitCode maps a status query to the exit code of `sei-agent status`: 0
// when the verdict is OK, 1 when DEGRADED or FAILING, 3 when the agent is
// not running (running false, or s nil).
func ExitCode(s *Snapshot, running bool) int {
	switch {
	case !running || s == nil:
		return 3
	case s.Verdict.Level == LevelOK:
		return 0
	}
	return 1
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// clock formats t for a reason or a table cell: UTC, to the minute.
func clock(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// Human formats d for people, two units at most: "45s", "14m", "2h13m",
// "3d4h".
func Human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d > 0 && d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		return fmt.Sprintf("%dh%02dm", h, int(d.Minutes())-60*h)
	}
	days := int(d.Hours()) / 24
	return fmt.Sprintf("%dd%dh", days, int(d.Hours())-24*days)
}

// Bytes formats n with a binary unit: "512 B", "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
