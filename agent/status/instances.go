package status

import (
	"fmt"
	"time"
)

// Instance is one ServiceNow instance of an agent configured with several
// (the configuration's instances list): its own servicenow, buffer and
// relay sections, as a single-instance agent has them at the top level,
// and its own verdict. Finalize computes the verdict.
type Instance struct {
	Integration string     `json:"integration"`
	ServiceNow  ServiceNow `json:"servicenow"`
	Buffer      Buffer     `json:"buffer"`
	Relay       Relay      `json:"relay"`
	// Error says why this instance's pipeline stopped while the others
	// run on (a fault of its own, such as its buffer failing); omitted
	// while it runs.
	Error   string  `json:"error,omitempty"`
	Verdict Verdict `json:"verdict"`
}

// view is the single-instance snapshot of instance in: the agent section
// of s with the instance's sections. Changes to it are not written back.
func (s *Snapshot) view(in *Instance) *Snapshot {
	return &Snapshot{Schema: s.Schema, Time: s.Time, Agent: s.Agent,
		ServiceNow: in.ServiceNow, Buffer: in.Buffer, Relay: in.Relay, Verdict: in.Verdict}
}

// finalizeInstances fills each instance's derived figures and the
// top-level summary sections (see summarize).
func (s *Snapshot) finalizeInstances() {
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.ServiceNow.Tables == nil {
			in.ServiceNow.Tables = []TableStatus{}
		}
		if !in.Buffer.Oldest.IsZero() {
			in.Buffer.OldestAge = Duration(max(0, s.Time.Sub(in.Buffer.Oldest)))
		}
	}
	s.summarize()
}

// summarize sets the top-level servicenow, buffer and relay sections of a
// snapshot with instances, for readers of the single-instance fields: the
// buffer sums every instance's (oldest pending: the oldest of all; paused
// when any instance is), the relay is the first instance's connection
// (every instance dials the same relay) without confirmations (they are
// per instance), and servicenow lists no table: each instance's are under
// instances.
func (s *Snapshot) summarize() {
	s.ServiceNow = ServiceNow{Tables: []TableStatus{}}
	var b Buffer
	for _, in := range s.Instances {
		ib := in.Buffer
		b.PendingBatches += ib.PendingBatches
		b.PendingRecords += ib.PendingRecords
		b.PendingBytes += ib.PendingBytes
		b.MaxBytes += ib.MaxBytes
		b.Repairs += ib.Repairs
		b.RepairsPending += ib.RepairsPending
		if b.FreeDisk == 0 || (ib.FreeDisk > 0 && ib.FreeDisk < b.FreeDisk) {
			b.FreeDisk = ib.FreeDisk
		}
		if !ib.Oldest.IsZero() && (b.Oldest.IsZero() || ib.Oldest.Before(b.Oldest)) {
			b.Oldest = ib.Oldest
		}
		if ib.LastGC.After(b.LastGC) {
			b.LastGC = ib.LastGC
		}
		if ib.PollingPaused && !b.PollingPaused {
			b.PollingPaused, b.PauseReason = true, in.Integration+": "+ib.PauseReason
		}
		if ib.Error != "" && b.Error == "" {
			b.Error = in.Integration + ": " + ib.Error
		}
		b.MovedAside = append(b.MovedAside, ib.MovedAside...)
	}
	if !b.Oldest.IsZero() {
		b.OldestAge = Duration(max(0, s.Time.Sub(b.Oldest)))
	}
	s.Buffer = b
	s.Relay = Relay{}
	if len(s.Instances) > 0 {
		s.Relay = s.Instances[0].Relay
		s.Relay.Confirmed = nil
	}
}

// evaluateInstances is Evaluate for a snapshot with instances: every
// instance is evaluated on its own sections with the single-instance
// rules, its verdict stored in it, and each of its reasons enters the
// agent's verdict prefixed with the instance's integration ("snow-emea:
// ServiceNow authentication failing …"), so the verdict names the instance
// that fails.
func evaluateInstances(s *Snapshot, th Thresholds, now time.Time) Verdict {
	var v verdictBuilder
	if !s.Agent.Running {
		v.fail("agent is not running (service state: %s)", orUnknown(s.Agent.ServiceState))
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		var iv verdictBuilder
		if in.Error != "" {
			iv.fail("stopped while the other instances run on: %s", in.Error)
		}
		evaluateSections(&iv, s.view(in), th, now)
		in.Verdict = iv.verdict()
		for _, r := range iv.failing {
			v.failing = append(v.failing, fmt.Sprintf("%s: %s", in.Integration, r))
		}
		for _, r := range iv.degraded {
			v.degraded = append(v.degraded, fmt.Sprintf("%s: %s", in.Integration, r))
		}
	}
	return v.verdict()
}

func orUnknown(state string) string {
	if state == "" {
		return "unknown"
	}
	return state
}

// renderInstances writes, per instance, its verdict and its servicenow,
// buffer and relay sections, each titled with the integration.
func renderInstances(p *printer, s *Snapshot) {
	for i := range s.Instances {
		in := &s.Instances[i]
		p.section = ""
		p.title("instance " + in.Integration)
		c := ansiRed
		switch in.Verdict.Level {
		case LevelOK:
			c = ansiGreen
		case LevelDegraded:
			c = ansiYellow
		}
		p.fieldC("verdict", in.Verdict.Level, c)
		if in.Error != "" {
			p.wrapped(pad("stopped"), in.Error, ansiRed)
		}
		p.section = " (" + in.Integration + ")"
		v := s.view(in)
		renderServiceNow(p, v)
		renderBuffer(p, v)
		renderRelay(p, v)
	}
	p.section = ""
}
